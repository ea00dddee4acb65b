package stream

import "time"

// SetClock makes p read the time from now, so that tests can move it.
func SetClock(p *Pipeline, now func() time.Time) { p.clock = now }
