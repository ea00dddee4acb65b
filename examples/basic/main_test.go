package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/forestream/forestream/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFlagsFallBackToTheEnvironment(t *testing.T) {
	env := map[string]string{"FORESTREAM_RATE": "50", "FORESTREAM_RECORDS": "700", "FORESTREAM_SEED": "9",
		"FORESTREAM_WINDOW": "3000", "FORESTREAM_RETRAIN_EVERY": "400"}
	opts, err := parseFlags([]string{"-records", "800"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, options{rate: 50, records: 800, seed: 9, window: 3000, retrainEvery: 400}, opts, "a flag beats its variable")

	opts, err = parseFlags(nil, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, options{rate: 2000, records: 0, seed: 1, window: 10000, retrainEvery: 2000}, opts)

	// A variable that does not parse is no error when its flag is given.
	env["FORESTREAM_RATE"] = "abc"
	opts, err = parseFlags([]string{"-rate", "5"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 5.0, opts.rate)
	_, err = parseFlags(nil, func(k string) string { return env[k] }, io.Discard)
	assert.ErrorContains(t, err, `FORESTREAM_RATE="abc": not a number`)
}

func TestBadSettingsAreNamed(t *testing.T) {
	for args, want := range map[string]string{
		"-rate -1":         "-rate -1",
		"-window 0":        "-window 0",
		"-records -5":      "-records -5",
		"extra":            `unexpected argument "extra"`,
		"env:abc":          `FORESTREAM_RATE="abc": not a number`,
		"-retrain-every 0": "-retrain-every 0",
	} {
		t.Run(args, func(t *testing.T) {
			getenv := func(string) string { return "" }
			var argv []string
			if args == "env:abc" {
				getenv = func(k string) string {
					if k == "FORESTREAM_RATE" {
						return "abc"
					}
					return ""
				}
			} else {
				argv = regexp.MustCompile(` `).Split(args, -1)
			}
			_, err := parseFlags(argv, getenv, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
}

func TestRunStopsAfterTheRecordsAndPrintsTheSummary(t *testing.T) {
	var out, logs bytes.Buffer
	opts := options{rate: 0, records: 6000, seed: 3, window: 3000, retrainEvery: 1000}
	require.NoError(t, run(context.Background(), opts, &out, &logs))

	m := regexp.MustCompile(`^forestream: records=(\d+) written=(\d+) rejected=0 model_version=(\d+) retrains=\d+ live_mae=\S+ live_r2=(\S+)\n$`).
		FindStringSubmatch(out.String())
	require.NotNil(t, m, "summary line: %q", out.String())
	assert.Equal(t, "6000", m[1])
	assert.Equal(t, "6000", m[2])
	version, err := strconv.Atoi(m[3])
	require.NoError(t, err)
	assert.Positive(t, version)
	assert.Contains(t, logs.String(), "model trained")
	assert.Contains(t, logs.String(), "final summary")
}

func TestCancellationShutsDownCleanlyWithASummary(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as Ctrl-C would, here before the first record
	var out bytes.Buffer
	require.NoError(t, run(ctx, options{rate: 100, seed: 1, window: 1000, retrainEvery: 500}, &out, io.Discard))
	assert.Regexp(t, `^forestream: records=\d+ written=\d+ `, out.String())
}

// A run too short for a model to score any record has no live accuracy;
// the summary must say so rather than print NaN.
func TestSummaryWithoutLiveAccuracy(t *testing.T) {
	var out, logs bytes.Buffer
	st := stream.Stats{Read: 2000, Written: 2000, ModelVersion: 2, Retrains: 2,
		Live: stream.Accuracy{MAE: math.NaN(), RMSE: math.NaN(), R2: math.NaN()}}
	printSummary(&out, &logs, st)
	assert.Equal(t, "forestream: records=2000 written=2000 rejected=0 model_version=2 retrains=2 live_mae=n/a live_r2=n/a\n", out.String())
	assert.Contains(t, logs.String(), "no record was scored by a model")

	out.Reset()
	logs.Reset()
	st.Live = stream.Accuracy{N: 1000, MAE: 9057.6, RMSE: 12000, R2: 0.9404}
	printSummary(&out, &logs, st)
	assert.Equal(t, "forestream: records=2000 written=2000 rejected=0 model_version=2 retrains=2 live_mae=9058 live_r2=0.940\n", out.String())
	assert.Empty(t, logs.String())
}

// The command the brief and a new user try: short and unpaced.
func TestShortUnpacedRunPrintsNoNaN(t *testing.T) {
	opts, err := parseFlags([]string{"-records", "2000", "-rate", "0"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), opts, &out, io.Discard))
	assert.Regexp(t, `^forestream: records=2000 written=2000 rejected=0 model_version=\d+ retrains=\d+ live_mae=(\d+|n/a) live_r2=(-?\d\.\d{3}|n/a)\n$`, out.String())
	assert.NotContains(t, out.String(), "NaN")
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("log disk full") }

// After a cancellation Run joins a sink's Close error to ctx.Err(); the
// program must report it, not take it for a clean stop.
func TestCloseErrorAfterCancellationIsReported(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := run(ctx, options{records: 100, seed: 1, window: 1000, retrainEvery: 500}, io.Discard, failingWriter{})
	assert.Error(t, err, "the final summary could not be written")
}
