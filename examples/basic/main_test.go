package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
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
