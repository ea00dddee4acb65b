package scaler_test

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/forestream/forestream/stream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var ctx = context.Background()

// batchOf returns a batch holding copies of rows, so that tests can keep
// rows as the expected raw values.
func batchOf(rows ...[]float64) stream.Batch {
	b := stream.Batch{Records: make([]stream.Record, len(rows))}
	for i, r := range rows {
		b.Records[i] = stream.Record{Features: append([]float64(nil), r...), Target: math.NaN()}
	}
	return b
}

func rowsOf(b stream.Batch) [][]float64 {
	rows := make([][]float64, len(b.Records))
	for i, r := range b.Records {
		rows[i] = r.Features
	}
	return rows
}

func fitRows(t testing.TB, f stream.Fitter, rows ...[]float64) {
	t.Helper()
	require.NoError(t, f.Fit(ctx, batchOf(rows...)))
}

// apply returns what tr makes of rows, leaving rows as they are.
func apply(t testing.TB, tr stream.Transformer, rows ...[]float64) [][]float64 {
	t.Helper()
	b := batchOf(rows...)
	require.NoError(t, tr.Transform(ctx, &b))
	return rowsOf(b)
}

type inverter interface {
	Inverse(ctx context.Context, b *stream.Batch) error
}

func invert(t testing.TB, inv inverter, rows ...[]float64) [][]float64 {
	t.Helper()
	b := batchOf(rows...)
	require.NoError(t, inv.Inverse(ctx, &b))
	return rowsOf(b)
}

// near reports whether got is within rel of want, relative to the larger
// of |want| and floor; NaN matches only NaN.
func near(got, want, rel, floor float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	return math.Abs(got-want) <= rel*math.Max(math.Abs(want), floor)
}

func assertNear(t testing.TB, want, got []float64, rel, floor float64, what string) {
	t.Helper()
	if !assert.Len(t, got, len(want), what) {
		return
	}
	for j := range want {
		assert.Truef(t, near(got[j], want[j], rel, floor), "%s[%d] = %v, want %v (rel %.2g)", what, j, got[j], want[j], relErr(got[j], want[j]))
	}
}

func assertRowsNear(t testing.TB, want, got [][]float64, rel, floor float64, what string) {
	t.Helper()
	if !assert.Len(t, got, len(want), what) {
		return
	}
	for i := range want {
		assertNear(t, want[i], got[i], rel, floor, what)
	}
}

func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

func mustMarshal(t testing.TB, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	data, err := m.MarshalBinary()
	require.NoError(t, err)
	return data
}

// assertSameRows checks bit-for-bit equality, under which NaN equals NaN.
func assertSameRows(t testing.TB, want, got [][]float64, what string) {
	t.Helper()
	if !assert.Len(t, got, len(want), what) {
		return
	}
	for i := range want {
		if !assert.Len(t, got[i], len(want[i]), what) {
			continue
		}
		for j := range want[i] {
			assert.Truef(t, math.Float64bits(want[i][j]) == math.Float64bits(got[i][j]), "%s: row %d feature %d = %v, want %v", what, i, j, got[i][j], want[i][j])
		}
	}
}
