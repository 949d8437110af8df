package httpretry_test

import (
	"errors"
	"fmt"

	"github.com/headwind-go/headwind/examples/httpretry"
)

// A breaker opens at the Failures-th consecutive failure and then refuses
// calls at once; a success in between starts the count again.
func ExampleBreaker() {
	b := &httpretry.Breaker{
		Failures: 2,
		OnChange: func(from, to httpretry.State) { fmt.Println(from, "->", to) },
	}
	call := func(ok bool) {
		done, err := b.Allow()
		if err != nil {
			fmt.Println("refused:", errors.Is(err, httpretry.ErrOpen))
			return
		}
		done(ok)
	}
	call(false)
	call(true)
	call(false)
	fmt.Println(b.State())
	call(false)
	call(true)
	// Output:
	// closed
	// closed -> open
	// refused: true
}
