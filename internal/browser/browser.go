// Package browser runs headless Chromium on a page, for the tests that
// check what a timeline page looks like in a real browser: a screenshot,
// and the DOM after the page loaded. Nothing here is API; only tests use
// it.
package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// RequireEnv, when set (CI sets it), makes Find fail the test instead of
// skipping it when Chromium is absent.
const RequireEnv = "HEADWIND_REQUIRE_CHROMIUM"

// names are the commands Chromium goes by (Debian's package: chromium).
var names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// timeout bounds one run of the browser, in real time: a browser that
// hangs fails the test instead of hanging it.
const timeout = 2 * time.Minute

// Chromium is a headless Chromium to run pages in.
type Chromium struct{ path string }

// Find returns the Chromium on PATH. Without one it skips t, saying how to
// install it, or fails t if RequireEnv is set.
func Find(t testing.TB) *Chromium {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return &Chromium{path: p}
		}
	}
	msg := "headless Chromium not found on PATH (Debian: apt-get install -y chromium)"
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s, and %s is set", msg, RequireEnv)
	}
	t.Skipf("%s; set %s to make this a failure", msg, RequireEnv)
	return nil
}

// run runs the browser headless on the file at page with extra flags, in
// a fresh profile directory, and returns its standard output and how long
// it ran.
func (c *Chromium) run(t testing.TB, page string, flags ...string) ([]byte, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
		"--disable-extensions", "--user-data-dir=" + t.TempDir(),
	}, flags...)
	cmd := exec.CommandContext(ctx, c.path, append(args, "file://"+page)...)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	took := time.Since(start)
	if err != nil {
		return out, took, fmt.Errorf("%s: %v\n%s", c.path, err, stderr.b)
	}
	return out, took, nil
}

// DumpDOM loads the page (an absolute path) and returns its DOM as HTML,
// serialized after the page loaded, and how long the browser ran.
func (c *Chromium) DumpDOM(t testing.TB, page string) (string, time.Duration, error) {
	t.Helper()
	out, took, err := c.run(t, page, "--dump-dom")
	return string(out), took, err
}

// Screenshot loads the page (an absolute path) in a window of width by
// height pixels and writes a PNG of it to png.
func (c *Chromium) Screenshot(t testing.TB, page, png string, width, height int) error {
	t.Helper()
	_, _, err := c.run(t, page, "--screenshot="+png, fmt.Sprintf("--window-size=%d,%d", width, height))
	return err
}

// limitedBuffer keeps the first 16 KB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 16<<10 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
