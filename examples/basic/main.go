// Command basic runs forestream's whole pipeline on its default stages:
// synthetic people from source.Faker, normalized by scaler.Standard, scored
// by a random forest (forest.Config) retrained in the background on a window
// of the stream, and logged by sink.Log. Every second it also asks the live
// model what salary it predicts for a person of a random age.
//
//	go run ./examples/basic                  # until Ctrl-C
//	go run ./examples/basic -records 20000   # stops by itself
//
// Each flag falls back to an environment variable: FORESTREAM_RATE,
// FORESTREAM_RECORDS, FORESTREAM_SEED, FORESTREAM_WINDOW and
// FORESTREAM_RETRAIN_EVERY.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/forestream/forestream/forest"
	"github.com/forestream/forestream/scaler"
	"github.com/forestream/forestream/sink"
	"github.com/forestream/forestream/source"
	"github.com/forestream/forestream/stream"
)

// options are the command's settings.
type options struct {
	rate         float64
	records      int64
	seed         int64
	window       int
	retrainEvery int
	verbose      bool
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "basic:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "basic:", err)
		os.Exit(1)
	}
}

// parseFlags reads the flags, each defaulting to its environment variable
// and then to a built-in value.
func parseFlags(args []string, getenv func(string) string, errOut io.Writer) (options, error) {
	fs := flag.NewFlagSet("basic", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var opts options
	// envErrs are the environment variables that did not parse, in flag
	// order; each matters only if its flag is not given.
	type envErr struct {
		flag string
		err  error
	}
	var envErrs []envErr
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	float := func(p *float64, name, envName, def, usage string) {
		v, err := strconv.ParseFloat(env(envName, def), 64)
		if err != nil {
			envErrs = append(envErrs, envErr{name, fmt.Errorf("%s=%q: not a number", envName, getenv(envName))})
		}
		fs.Float64Var(p, name, v, usage+" ($"+envName+")")
	}
	integer := func(p *int64, name, envName, def, usage string) {
		v, err := strconv.ParseInt(env(envName, def), 10, 64)
		if err != nil {
			envErrs = append(envErrs, envErr{name, fmt.Errorf("%s=%q: not a whole number", envName, getenv(envName))})
		}
		fs.Int64Var(p, name, v, usage+" ($"+envName+")")
	}
	var window, retrain int64
	float(&opts.rate, "rate", "FORESTREAM_RATE", "2000", "records per second; 0 for as fast as possible")
	integer(&opts.records, "records", "FORESTREAM_RECORDS", "0", "stop after this many records; 0 runs until Ctrl-C")
	integer(&opts.seed, "seed", "FORESTREAM_SEED", "1", "seed of the synthetic data and of the forest")
	integer(&window, "window", "FORESTREAM_WINDOW", strconv.Itoa(stream.DefaultWindow), "labeled records each model is trained on")
	integer(&retrain, "retrain-every", "FORESTREAM_RETRAIN_EVERY", strconv.Itoa(stream.DefaultRetrainEvery), "new labeled records between retrains")
	fs.BoolVar(&opts.verbose, "v", false, "log every record (Debug)")
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, e := range envErrs {
		if !given[e.flag] {
			return opts, e.err
		}
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	opts.window, opts.retrainEvery = int(window), int(retrain)
	switch {
	case opts.rate < 0:
		return opts, fmt.Errorf("-rate %v: must be 0 or more", opts.rate)
	case opts.records < 0:
		return opts, fmt.Errorf("-records %d: must be 0 or more", opts.records)
	case opts.window <= 0:
		return opts, fmt.Errorf("-window %d: must be more than 0", opts.window)
	case opts.retrainEvery <= 0:
		return opts, fmt.Errorf("-retrain-every %d: must be more than 0", opts.retrainEvery)
	}
	return opts, nil
}

// run builds the pipeline, runs it until the records are done or ctx is
// cancelled, and prints the summary line to out.
func run(ctx context.Context, opts options, out, logOut io.Writer) error {
	level := slog.LevelInfo
	if opts.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	people := &source.Faker{Seed: opts.seed, Rate: opts.rate, Limit: opts.records}
	p := &stream.Pipeline{
		Source:       people,
		Transformers: []stream.Transformer{scaler.NewStandard()},
		Trainer:      forest.Config{Trees: forest.DefaultTrees, Seed: uint64(opts.seed)},
		Sink:         &sink.Log{Logger: logger, Schema: people.Schema(), Interval: 2 * time.Second},
		Window:       opts.window,
		MinTrain:     min(stream.DefaultMinTrain, opts.window),
		RetrainEvery: opts.retrainEvery,
		Logger:       logger,
	}

	// Like a service would, ask the live model for predictions while the
	// pipeline runs.
	askCtx, stopAsking := context.WithCancel(ctx)
	asked := make(chan struct{})
	go func() {
		defer close(asked)
		askEverySecond(askCtx, p, opts.seed, logger)
	}()
	err := p.Run(ctx)
	stopAsking()
	<-asked
	// After Ctrl-C a clean run returns ctx.Err() itself; anything else,
	// such as ctx.Err() joined with a sink's failure to close, is a failure.
	if err != nil && err != ctx.Err() {
		return err
	}

	printSummary(out, logOut, p.Stats())
	return nil
}

// printSummary prints the summary line to out. A short unpaced run can end
// before the first model has scored a record; then there is no live
// accuracy, and printing NaN would look like a failure, so the line says
// n/a and logOut says why.
func printSummary(out, logOut io.Writer, st stream.Stats) {
	fmt.Fprintf(out, "forestream: records=%d written=%d rejected=%d model_version=%d retrains=%d live_mae=%s live_r2=%s\n",
		st.Read, st.Written, st.Rejected, st.ModelVersion, st.Retrains, orNA(st.Live.MAE, 0), orNA(st.Live.R2, 3))
	if math.IsNaN(st.Live.MAE) {
		fmt.Fprintln(logOut, "basic: no record was scored by a model before the stream ended, so there is no live accuracy; run more -records, or pace them with -rate")
	}
}

// orNA formats x with prec decimals, or as n/a when it is NaN.
func orNA(x float64, prec int) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// askEverySecond logs, once a second, the live model's salary prediction for
// a person of a random age working full time with a degree.
func askEverySecond(ctx context.Context, p *stream.Pipeline, seed int64, logger *slog.Logger) {
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m := p.Model()
		if m == nil {
			continue
		}
		age := float64(18 + rng.IntN(50))
		person := []float64{age, min(age-18, 10), 40, 16} // age, years_employed, weekly_hours, education_years
		salary, err := m.Predict(person)
		if err != nil {
			logger.Error("prediction failed", "error", err)
			continue
		}
		logger.Info("prediction", "age", age, "salary", int(salary), "truth", int(source.PeopleSalary(person)), "model", m.Version)
	}
}
