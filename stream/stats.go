package stream

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a Pipeline's counters and live accuracy.
type Stats struct {
	Read    uint64 // records read from the Source
	Scored  uint64 // records scored by a model (not counting those read before the first)
	Learned uint64 // labeled records that entered the training window
	Written uint64 // records written to the Sink
	// Rejected counts bad records; RejectedBy splits them by reason.
	Rejected   uint64
	RejectedBy map[RejectReason]uint64
	Batches    uint64 // batches read

	Retrains          uint64 // models trained and swapped in
	RetrainsCoalesced uint64 // retrains that fell due while one was running, folded into the next
	RetrainsFailed    uint64 // retrains that failed; the previous model stayed
	// RetrainError is why the newest retrain failed, or nil if it
	// succeeded or none has run: a service can tell from it why no model
	// comes, which the log says only once per retrain.
	RetrainError error

	ModelVersion      uint64        // version of the current model; 0 before the first
	LastTrainDuration time.Duration // how long the current model took to train

	// Live is the accuracy of the test-then-train scores over the newest
	// AccuracyWindow labeled records: each was scored before it was learned
	// from, so this is an honest estimate of the error on new data.
	Live Accuracy
}

// Accuracy measures predictions against targets.
type Accuracy struct {
	N    int     // records measured
	MAE  float64 // mean absolute error
	RMSE float64 // root mean squared error
	// R2 is the coefficient of determination: 1 is perfect, 0 is no better
	// than predicting the mean. NaN when fewer than 2 records or no spread.
	R2 float64
	// Correct is the share of predictions equal to their target: the
	// accuracy of a classifier, whose predictions and targets are class
	// indices. A regressor's is near 0 and tells little.
	Correct float64
}

// counters are a pipeline's running statistics. The hot counters are atomic;
// the rest sit behind mu, taken once per batch.
type counters struct {
	read, scored, learned, written, rejected, batches atomic.Uint64
	retrains, coalesced, failed                       atomic.Uint64

	mu         sync.Mutex
	rejectedBy map[RejectReason]uint64
	version    uint64
	trainDur   time.Duration
	retrainErr error
	// ring of the newest (prediction, target) pairs for the live accuracy
	preds, targets []float64
	capacity       int
	next           int // the oldest pair, once the ring is full
}

func (c *counters) init(accuracyWindow int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rejectedBy = make(map[RejectReason]uint64)
	c.capacity = accuracyWindow
}

func (c *counters) reject(reason RejectReason) {
	c.rejected.Add(1)
	c.mu.Lock()
	c.rejectedBy[reason]++
	c.mu.Unlock()
}

// retrainFailed counts a failed retrain and keeps its error.
func (c *counters) retrainFailed(err error) {
	c.failed.Add(1)
	c.mu.Lock()
	c.retrainErr = err
	c.mu.Unlock()
}

func (c *counters) setModel(m *Model) {
	c.mu.Lock()
	c.version, c.trainDur = m.Version, m.TrainDuration
	c.retrainErr = nil
	c.mu.Unlock()
}

// observe adds the scores of the labeled records of a batch to the ring.
func (c *counters) observe(recs []Record, preds []float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range recs {
		if !recs[i].Labeled() {
			continue
		}
		if len(c.preds) < c.capacity { // the ring grows until it is full
			c.preds = append(grown(c.preds, 1, c.capacity), preds[i])
			c.targets = append(grown(c.targets, 1, c.capacity), recs[i].Target)
			continue
		}
		c.preds[c.next], c.targets[c.next] = preds[i], recs[i].Target
		c.next = (c.next + 1) % len(c.preds)
	}
}

// Stats returns a snapshot of the pipeline's counters and live accuracy. It
// is safe to call at any time, also while Run is running.
func (p *Pipeline) Stats() Stats {
	c := &p.stats
	s := Stats{
		Read: c.read.Load(), Scored: c.scored.Load(), Learned: c.learned.Load(), Written: c.written.Load(),
		Rejected: c.rejected.Load(), Batches: c.batches.Load(),
		Retrains: c.retrains.Load(), RetrainsCoalesced: c.coalesced.Load(), RetrainsFailed: c.failed.Load(),
		RejectedBy: map[RejectReason]uint64{},
		Live:       Accuracy{MAE: math.NaN(), RMSE: math.NaN(), R2: math.NaN(), Correct: math.NaN()},
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.rejectedBy {
		s.RejectedBy[k] = v
	}
	s.ModelVersion, s.LastTrainDuration = c.version, c.trainDur
	s.RetrainError = c.retrainErr
	if len(c.preds) > 0 {
		s.Live = Measure(c.preds, c.targets)
	}
	return s
}

// Measure returns the accuracy of predictions against targets, pairing them
// by index over the shorter of the two.
func Measure(predictions, targets []float64) Accuracy {
	n := min(len(predictions), len(targets))
	a := Accuracy{N: n, MAE: math.NaN(), RMSE: math.NaN(), R2: math.NaN(), Correct: math.NaN()}
	if n == 0 {
		return a
	}
	var sumAbs, sumSq, mean float64
	correct := 0
	for i := 0; i < n; i++ {
		e := predictions[i] - targets[i]
		if e == 0 {
			correct++
		}
		sumAbs += math.Abs(e)
		sumSq += e * e
		mean += targets[i]
	}
	mean /= float64(n)
	var ss float64
	for i := 0; i < n; i++ {
		d := targets[i] - mean
		ss += d * d
	}
	a.MAE = sumAbs / float64(n)
	a.Correct = float64(correct) / float64(n)
	a.RMSE = math.Sqrt(sumSq / float64(n))
	if n >= 2 && ss > 0 {
		a.R2 = 1 - sumSq/ss
	}
	return a
}
