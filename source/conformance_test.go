package source_test

import (
	"strings"
	"testing"

	"github.com/forestream/forestream/source"
	"github.com/forestream/forestream/stream"
	"github.com/forestream/forestream/stream/streamtest"
)

// The stream.Source contract, checked with the conformance suite users run
// on their own sources.
func TestSourcesKeepTheStreamContract(t *testing.T) {
	const csvData = "age,hours,salary,city\n30,40,50000,Oslo\n41,35,,Rome\n52,45,70000,Lima\n"
	sources := map[string]func() stream.Source{
		"Faker": func() stream.Source { return &source.Faker{Seed: 1, Limit: 50} },
		"Slice": func() stream.Source {
			return source.NewSlice(stream.Schema{Features: []string{"x"}}, []stream.Record{{Features: []float64{1}}, {Features: []float64{2}}})
		},
		"CSV": func() stream.Source {
			s, err := source.NewCSV(strings.NewReader(csvData), source.CSVOptions{Columns: source.Columns{Target: "salary", Attrs: []string{"city"}}})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"JSONL": func() stream.Source {
			s, err := source.NewJSONL(strings.NewReader(`{"x":1,"y":2}`+"\n"+`{"x":3,"y":4}`+"\n"), source.JSONLOptions{Columns: source.Columns{Target: "y"}})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, newSource := range sources {
		t.Run(name, func(t *testing.T) { streamtest.TestSource(t, newSource) })
	}
}
