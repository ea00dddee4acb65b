package forestream_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/forestream/forestream/forest"
	"github.com/forestream/forestream/scaler"
	"github.com/forestream/forestream/source"
	"github.com/forestream/forestream/stream"
	"github.com/forestream/forestream/stream/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTheDefaultPipelineLearns runs the default stages end to end (Faker
// people, StandardScaler, a 100-tree forest, the default window and retrain
// cadence) and checks the two promises that matter most: once warmed up, the
// live R² of the test-then-train scores is at least 0.8; and every model
// scores a raw record exactly as the pipeline did under that version, while
// the live scaler keeps learning.
func TestTheDefaultPipelineLearns(t *testing.T) {
	const total, warm = 30_000, 12_000
	people := &source.Faker{Seed: 7, Limit: total}
	// The Faker is unpaced, far faster than training: hold it at warm
	// records until a model has been trained on a full window, so the end
	// of the stream is scored by warmed-up models, as on a real stream.
	warmed := make(chan struct{})
	var once sync.Once
	read := 0
	src := stream.SourceFunc(people.Schema(), func(ctx context.Context, max int) (stream.Batch, stream.AckFunc, error) {
		if read >= warm {
			select {
			case <-warmed:
			case <-ctx.Done():
				return stream.Batch{}, nil, ctx.Err()
			}
		}
		b, ack, err := people.Read(ctx, max)
		read += b.Len()
		return b, ack, err
	})

	p := &stream.Pipeline{
		Source:       src,
		Transformers: []stream.Transformer{scaler.NewStandard()},
		Trainer:      forest.Config{Trees: forest.DefaultTrees, Seed: 7},
		Logger:       slog.New(slog.DiscardHandler),
		OnModel: func(m *stream.Model) {
			if m.TrainedOn >= stream.DefaultWindow {
				once.Do(func() { close(warmed) })
			}
		},
	}
	check := &streamtest.SkewCheck{Model: p.Model}
	p.Sink = check
	require.NoError(t, p.Run(context.Background()))

	st := p.Stats()
	t.Logf("live over the last %d labeled records: MAE %.0f, RMSE %.0f, R² %.3f; %d models, last trained in %v",
		st.Live.N, st.Live.MAE, st.Live.RMSE, st.Live.R2, st.Retrains, st.LastTrainDuration)
	assert.EqualValues(t, total, st.Written)
	assert.Equal(t, stream.DefaultAccuracyWindow, st.Live.N)
	assert.GreaterOrEqual(t, st.Live.R2, 0.8, "the default pipeline must learn the people's salaries")
	checked, err := check.Result()
	assert.NoError(t, err)
	assert.Greater(t, checked, 1000)

	m := p.Model()
	require.NotNil(t, m)
	assert.Positive(t, m.HeldOut.N, "the forest reports its out-of-bag error")
	assert.Greater(t, m.HeldOut.R2, 0.8)
}

func Example() {
	people := &source.Faker{Seed: 1, Limit: 5000}
	p := &stream.Pipeline{
		Source:       people,
		Transformers: []stream.Transformer{scaler.NewStandard()},
		Trainer:      forest.Config{Seed: 1, Trees: 20},
		Logger:       slog.New(slog.DiscardHandler),
	}
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	// At io.EOF the pipeline trains once more, so the final model has seen
	// every record; ask it in raw units.
	m := p.Model()
	salary, err := m.Predict([]float64{45, 20, 40, 16}) // age, years employed, weekly hours, years of education
	fmt.Println(m.TrainedOn, "records;", "predicted salary within $10k of the truth:",
		math.Abs(salary-source.PeopleSalary([]float64{45, 20, 40, 16})) < 10_000, err)
	// Output:
	// 5000 records; predicted salary within $10k of the truth: true <nil>
}

// A service saves the model it serves and starts its next run from it: the
// loaded model scores bit for bit as the saved one, and the next run's
// versions continue from it.
func TestASavedModelServesTheNextRun(t *testing.T) {
	people := &source.Faker{Seed: 3, Limit: 3000}
	p := &stream.Pipeline{
		Source:       people,
		Transformers: []stream.Transformer{scaler.NewStandard()},
		Trainer:      forest.Config{Trees: 10, Seed: 1},
		Logger:       slog.New(slog.DiscardHandler),
	}
	require.NoError(t, p.Run(context.Background()))
	saved := p.Model()
	require.NotNil(t, saved)
	data, err := saved.MarshalBinary()
	require.NoError(t, err)

	var loaded stream.Model
	require.NoError(t, loaded.UnmarshalBinary(data))
	assert.Equal(t, saved.Schema, loaded.Schema)
	assert.Equal(t, saved.Version, loaded.Version)
	assert.Equal(t, saved.HeldOut, loaded.HeldOut)
	rows, _, err := (&source.Faker{Seed: 4, Limit: 200}).Read(context.Background(), 200)
	require.NoError(t, err)
	for _, r := range rows.Records {
		want, err := saved.Predict(r.Features)
		require.NoError(t, err)
		got, err := loaded.Predict(r.Features)
		require.NoError(t, err)
		require.Equal(t, math.Float64bits(want), math.Float64bits(got))
	}

	// The next run retrains once it has had as many records as the saved
	// model was trained on.
	next := &stream.Pipeline{
		Source:       &source.Faker{Seed: 5, Limit: int64(saved.TrainedOn) + 500},
		Transformers: []stream.Transformer{scaler.NewStandard()},
		Trainer:      forest.Config{Trees: 10, Seed: 1},
		InitialModel: &loaded,
		Logger:       slog.New(slog.DiscardHandler),
	}
	require.NoError(t, next.Run(context.Background()))
	require.Positive(t, next.Stats().Retrains)
	assert.Equal(t, saved.Version+next.Stats().Retrains, next.Model().Version, "versions continue from the saved model")
	assert.GreaterOrEqual(t, next.Model().TrainedOn, saved.TrainedOn)
}
