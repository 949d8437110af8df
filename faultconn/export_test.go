package faultconn

// Add lets the tests of the trace record events of any kind, as the
// engines do; users can only add notes.
func (t *Trace) Add(e Event) { t.add(e) }
