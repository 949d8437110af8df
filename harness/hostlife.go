package harness

import (
	"context"
	"errors"
	"fmt"
	"github.com/headwind-go/headwind/internal/timeline"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/headwind-go/headwind/netsim"
)

// DefaultStopTimeout is how much virtual time a service has to stop, where
// Service.StopTimeout is zero.
const DefaultStopTimeout = 5 * time.Second

// A Service is how a host's service starts, so that the harness can crash
// it and start it again (see T.Service). Start runs the service on host h
// until ctx is done, then returns once every goroutine it started has
// returned. It keeps its durable state in s, and nothing else of it
// survives a crash: a restart calls Start again, with fresh memory, a new
// incarnation of h and the records s kept.
//
// Start is called in a goroutine of its own; it should not return before
// ctx is done unless the service ends by itself. An error it returns
// before ctx is done fails the case, naming the host; after, it is
// ignored (a crashed service's calls fail). A panic in Start fails the
// case too.
type Service struct {
	// Start runs the service; see Service. It must not be nil.
	Start func(ctx context.Context, h *netsim.Host, s *Store) error
	// StopTimeout is how much virtual time Start has to return once its
	// context is done, after a crash or at the end of the case; a service
	// that takes longer fails the case, naming its host, and is not
	// restarted. Zero means DefaultStopTimeout; at most MaxDuration.
	StopTimeout time.Duration
	// MaxRecords is the most records the host's Store holds; zero means
	// DefaultMaxRecords, at most MaxStoreRecords.
	MaxRecords int
	// MaxBytes is the most bytes the host's Store holds, summed over its
	// records; zero means DefaultMaxBytes, at most MaxStoreBytes.
	MaxBytes int
}

func (s Service) withDefaults() (Service, error) {
	var errs []error
	if s.Start == nil {
		errs = append(errs, errors.New("harness: Service.Start is nil"))
	}
	if s.StopTimeout < 0 || s.StopTimeout > MaxDuration {
		errs = append(errs, fmt.Errorf("harness: Service.StopTimeout %v out of range [0,%v] (0 means %v)", s.StopTimeout, MaxDuration, DefaultStopTimeout))
	}
	if s.MaxRecords < 0 || s.MaxRecords > MaxStoreRecords {
		errs = append(errs, fmt.Errorf("harness: Service.MaxRecords %d out of range [0,%d] (0 means %d)", s.MaxRecords, MaxStoreRecords, DefaultMaxRecords))
	}
	if s.MaxBytes < 0 || s.MaxBytes > MaxStoreBytes {
		errs = append(errs, fmt.Errorf("harness: Service.MaxBytes %d out of range [0,%d] (0 means %d)", s.MaxBytes, MaxStoreBytes, DefaultMaxBytes))
	}
	if s.StopTimeout == 0 {
		s.StopTimeout = DefaultStopTimeout
	}
	if s.MaxRecords == 0 {
		s.MaxRecords = DefaultMaxRecords
	}
	if s.MaxBytes == 0 {
		s.MaxBytes = DefaultMaxBytes
	}
	return s, errors.Join(errs...)
}

// hostLife is a case's services, by host.
type hostLife struct {
	began time.Time // when the case began, for the nemesis log

	mu       sync.Mutex // guards the fields below
	services map[string]*service
	ended    bool // the case is ending: no new services, no restarts
}

// service is one host's registered Service and its current run.
type service struct {
	host string
	spec Service
	disk *disk
	// turn holds one token: a lifecycle operation (start, crash, restart,
	// the end of the case) takes it for its duration, so that they run
	// one at a time per host. A channel, not a mutex, because they wait
	// for the service to stop, and a wait on a channel is durable in a
	// bubble.
	turn chan struct{}

	// Guarded by turn:
	cancel  context.CancelFunc // cancels the running Start; nil when none runs
	done    chan struct{}      // closed when the running Start returns
	stuck   bool               // Start did not return within StopTimeout
	boots   int                // how many times Start was called
	crashes int
}

// Service registers how host's service starts and starts it (on the
// host's current incarnation, unless the host is crashed: then at its
// Restart). From then on Crash stops it and Restart starts it again with
// fresh memory and its Store reopened; at the end of the case, before
// the network closes, the harness cancels it and waits for it to stop.
// A host has at most one Service. It returns an error, naming the field,
// for an invalid Service; Service is safe for concurrent use.
func (t *T) Service(host string, svc Service) error {
	svc, err := svc.withDefaults()
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New(`harness: Service: host "" (a host's name is a DNS label)`)
	}
	t.Net.Host(host) // made now, so that it is up
	s := &service{host: host, spec: svc, turn: make(chan struct{}, 1),
		disk: &disk{host: host, maxRecords: svc.MaxRecords, maxBytes: svc.MaxBytes, boot: 1}}
	l := &t.life
	l.mu.Lock()
	switch {
	case l.ended:
		l.mu.Unlock()
		return fmt.Errorf("harness: Service(%q): the case has ended", host)
	case l.services[host] != nil:
		l.mu.Unlock()
		return fmt.Errorf("harness: Service(%q): the host has a service already", host)
	}
	if l.services == nil {
		l.services = make(map[string]*service)
	}
	l.services[host] = s
	s.turn <- struct{}{}
	l.mu.Unlock()
	defer func() { <-s.turn }()
	if t.Net.Up(host) {
		s.start(t, s.disk.open())
	} else {
		s.disk.setDown() // until Restart
	}
	return nil
}

// Store returns the store of host's current incarnation (nil if the host
// has no Service): while the host is crashed, one to read what survived,
// which becomes writable at the Restart. Tests read it to check the
// durable state, for example after a last crash.
func (t *T) Store(host string) *Store {
	s := t.life.service(host)
	if s == nil {
		return nil
	}
	return s.disk.open()
}

// Crash crashes host: what a nemesis step that crashes does, and what a
// property or a user's own step calls (for example, to crash the current
// leader). The host is powered off in the network (see
// netsim.Network.Crash: it sends nothing more, its sockets vanish), its
// Store loses its unsynced records as the case's seed draws (none, the
// newest part or all, a third of the time each, per host and per crash),
// and its Service, if it has one, sees its context done and must return
// within Service.StopTimeout of virtual time; one that does not fails the
// case, naming the host, and is not restarted. Crash returns when the
// service has stopped (or the timeout passed), and logs what it did in
// the case's report. Crashing a crashed host does nothing; an unknown
// host is an error.
func (t *T) Crash(host string) error {
	return t.crash(host, nil)
}

// CrashLosing is Crash with the Loss of the host's unsynced records
// given, for example drawn by a nemesis step with rapid (which shrinks it
// towards LoseNone).
func (t *T) CrashLosing(host string, loss Loss) error {
	if err := loss.validate(); err != nil {
		return err
	}
	return t.crash(host, &loss)
}

func (t *T) crash(host string, loss *Loss) error {
	s := t.life.service(host)
	if s == nil {
		if !t.Net.Up(host) {
			return t.Net.Crash(host) // an unknown host's error, or nothing
		}
		if err := t.Net.Crash(host); err != nil {
			return err
		}
		t.spanBegin("crash", host)
		t.logf("at %v crash %s", t.life.since(), host)
		return nil
	}
	s.turn <- struct{}{}
	defer func() { <-s.turn }()
	if !t.Net.Up(host) {
		return nil
	}
	if err := t.Net.Crash(host); err != nil {
		return err
	}
	t.spanBegin("crash", host)
	l := drawLoss(t.Seed, host, s.crashes)
	if loss != nil {
		l = *loss
	}
	s.crashes++
	unsynced, kept := s.disk.crash(l)
	what := fmt.Sprintf("at %v crash %s (store: %d unsynced records, %d kept", t.life.since(), host, unsynced, kept)
	if unsynced > 0 {
		what += fmt.Sprintf(", loss %.3g", float64(l))
	}
	what += ")"
	err := s.stop(t, "its host crashed")
	if err != nil {
		what += "; the service did not stop"
	}
	t.logf("%s", what)
	return err
}

// Restart restarts a crashed host (see netsim.Network.Restart: a new
// incarnation at the same address) and, if it has a Service, calls its
// Start again, with a new context and the host's Store reopened with the
// records that survived. It logs what it did in the case's report.
// Restarting a host that is up does nothing but say so in the report:
// the property, a nemesis restart step and the schedule's final heal may
// each restart a host, and whichever comes first does it (a property that
// crashes a host for longer than the schedule runs finds it restarted by
// the heal). Restarting a host whose service did not stop after its
// crash, or after the case's end, is an error, and so is an unknown host.
func (t *T) Restart(host string) error {
	s := t.life.service(host)
	if s == nil {
		if t.Net.Up(host) {
			t.logf("at %v restart %s: already up", t.life.since(), host)
			return nil
		}
		if err := t.Net.Restart(host); err != nil {
			return err
		}
		t.spanEnd("crash", host)
		t.logf("at %v restart %s", t.life.since(), host)
		return nil
	}
	s.turn <- struct{}{}
	defer func() { <-s.turn }()
	if s.stuck {
		return fmt.Errorf("harness: Restart(%q): its service did not stop after its crash", host)
	}
	t.life.mu.Lock()
	ended := t.life.ended
	t.life.mu.Unlock()
	if ended {
		return fmt.Errorf("harness: Restart(%q): the case has ended", host)
	}
	if t.Net.Up(host) { // never crashed, or restarted by another first
		t.logf("at %v restart %s: already up", t.life.since(), host)
		return nil
	}
	if err := t.Net.Restart(host); err != nil {
		return err
	}
	t.spanEnd("crash", host)
	st, n := s.disk.reopen()
	s.start(t, st)
	t.logf("at %v restart %s (boot %d, store: %d records)", t.life.since(), host, s.boots, n)
	return nil
}

// Pause pauses host's traffic (see netsim.Network.Pause) and logs it in
// the case's report.
func (t *T) Pause(host string) error {
	if err := t.Net.Pause(host); err != nil {
		return err
	}
	t.spanBegin("pause", host)
	t.logf("at %v pause %s", t.life.since(), host)
	return nil
}

// Resume resumes a paused host's traffic (see netsim.Network.Resume) and
// logs it in the case's report.
func (t *T) Resume(host string) error {
	if err := t.Net.Resume(host); err != nil {
		return err
	}
	t.spanEnd("pause", host)
	t.logf("at %v resume %s", t.life.since(), host)
	return nil
}

// start calls the service's Start in a goroutine of its own; s.turn is
// held.
func (s *service) start(t *T, st *Store) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.cancel, s.done = cancel, done
	s.boots++
	h, boot := t.Net.Host(s.host), s.boots
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("harness: the service of host %q (boot %d) panicked: %v\n%s", s.host, boot, r, debug.Stack())
			}
		}()
		err := s.spec.Start(ctx, h, st)
		if err != nil && ctx.Err() == nil {
			t.Errorf("harness: the service of host %q (boot %d) returned before it was stopped: %v", s.host, boot, err)
		}
	}()
}

// stop cancels the running Start, if any, and waits for it to return
// within StopTimeout; s.turn is held. A service that does not return in
// time fails the case; why says what stopped it.
func (s *service) stop(t *T, why string) error {
	return s.wait(t, s.halt(), why)
}

// halt cancels the running Start, if any, and returns the instant it has
// to have returned by (zero if none runs); s.turn is held.
func (s *service) halt() time.Time {
	if s.cancel == nil {
		return time.Time{}
	}
	s.cancel()
	s.cancel = nil
	return time.Now().Add(s.spec.StopTimeout)
}

// wait waits for the Start that halt cancelled to return by deadline;
// s.turn is held.
func (s *service) wait(t *T, deadline time.Time, why string) error {
	if deadline.IsZero() {
		return nil
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-s.done:
		return nil
	case <-timer.C:
	}
	s.stuck = true
	err := fmt.Errorf("harness: the service of host %q (boot %d) did not stop within Service.StopTimeout (%v of virtual time) after %s",
		s.host, s.boots, s.spec.StopTimeout, why)
	t.Errorf("%v", err)
	return err
}

// service returns host's service, or nil.
func (l *hostLife) service(host string) *service {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.services[host]
}

// since is the virtual time since the case began, for the log.
func (l *hostLife) since() time.Duration { return humanDuration(time.Since(l.began)) }

// stopServices ends the case's services: it cancels them all, then waits
// for each to stop (see Service), in the order of their hosts' names.
// Call it once, before the network closes.
func (t *T) stopServices() {
	l := &t.life
	l.mu.Lock()
	l.ended = true
	hosts := make([]string, 0, len(l.services))
	for h := range l.services {
		hosts = append(hosts, h)
	}
	l.mu.Unlock()
	slices.Sort(hosts)
	deadlines := make([]time.Time, len(hosts))
	for i, h := range hosts {
		s := l.service(h)
		s.turn <- struct{}{}
		deadlines[i] = s.halt()
	}
	for i, h := range hosts {
		s := l.service(h)
		s.wait(t, deadlines[i], "the case ended")
		<-s.turn
	}
}

// span is a host's crash or pause, for the timeline page: from start to
// end (open while it lasts), in virtual time since the case began.
type span struct {
	kind, host string
	start, end time.Duration
	open       bool
}

// spanBegin records that host crashed or paused (kind) now.
func (t *T) spanBegin(kind, host string) {
	now := time.Since(t.life.began)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.spans) < maxSpans {
		t.spans = append(t.spans, span{kind: kind, host: host, start: now, open: true})
	}
}

// spanEnd records that host's crash or pause (kind) ended now.
func (t *T) spanEnd(kind, host string) {
	now := time.Since(t.life.began)
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.spans) - 1; i >= 0; i-- {
		if sp := &t.spans[i]; sp.open && sp.kind == kind && sp.host == host {
			sp.end, sp.open = now, false
			return
		}
	}
}

// maxSpans bounds the crashes and pauses a case records for its page.
const maxSpans = 1000

// spanIntervals shades the hosts' crashes and pauses; one still going
// lasts until now.
func (t *T) spanIntervals() []timeline.Interval {
	now := time.Since(t.life.began)
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]timeline.Interval, 0, len(t.spans))
	for _, sp := range t.spans {
		end := sp.end
		if sp.open {
			end = now
		}
		out = append(out, timeline.Interval{Start: sp.start, End: end, Kind: sp.kind, Label: sp.kind + " " + sp.host, Hosts: []string{sp.host}})
	}
	return out
}
