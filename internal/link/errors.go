package link

import (
	"errors"
	"syscall"
)

// ErrInjected marks errors caused by an injected fault rather than by the
// peer or the program itself. faultconn re-exports it.
var ErrInjected = errors.New("faultconn: injected fault")

// injected is a socket errno produced by an injected fault: errors.Is
// matches both the errno and ErrInjected, and Timeout/Temporary follow the
// errno, so net.OpError reports them as a real socket would.
type injected struct{ errno syscall.Errno }

func (e injected) Error() string   { return e.errno.Error() + " (injected by headwind)" }
func (e injected) Unwrap() []error { return []error{e.errno, ErrInjected} }
func (e injected) Timeout() bool   { return e.errno.Timeout() }
func (e injected) Temporary() bool { return e.errno.Temporary() }

// Injected returns errno marked as caused by an injected fault.
func Injected(errno syscall.Errno) error { return injected{errno} }
