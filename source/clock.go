package source

import (
	"context"
	"time"
)

// clock is what Faker paces by. Tests swap in a fake one so that pacing is
// checked exactly and without sleeping.
type clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx is done, whichever comes first.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
