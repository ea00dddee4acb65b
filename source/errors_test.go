package source

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/forestream/forestream/stream"
)

// A source's errors read as one sentence: the package, the source, what
// kind of error, then the detail, with no package prefix repeated inside
// ("source: invalid configuration: csv: stream: invalid schema: ...").
// They still match the sentinels they wrapped before.
func TestErrorMessagesNameTheSourceFirst(t *testing.T) {
	read0 := func(s stream.Source) error {
		_, _, err := s.Read(context.Background(), 0)
		return err
	}
	csvErr := func(in string, opts CSVOptions) error {
		_, err := NewCSV(strings.NewReader(in), opts)
		return err
	}
	jsonlErr := func(in string, opts JSONLOptions) error {
		_, err := NewJSONL(strings.NewReader(in), opts)
		return err
	}
	csvSrc, err := NewCSV(strings.NewReader("a\n"), CSVOptions{})
	assert.NoError(t, err)

	tests := []struct {
		name string
		err  error
		want string
		is   []error
	}{
		{"csv no features", csvErr("a,b\n", CSVOptions{Columns: Columns{Target: "a", Key: "b"}}),
			"source: csv: invalid configuration: no features", []error{ErrInvalidConfig, stream.ErrInvalidSchema}},
		{"jsonl no features", jsonlErr(`{"y": 1}`, JSONLOptions{Columns: Columns{Target: "y"}}),
			"source: jsonl: invalid configuration: no features", []error{ErrInvalidConfig, stream.ErrInvalidSchema}},
		{"jsonl duplicate feature", jsonlErr("", JSONLOptions{Features: []string{"a", "a"}}),
			`source: jsonl: invalid configuration: features 0 and 1 are both named "a"`, []error{ErrInvalidConfig, stream.ErrInvalidSchema}},
		{"csv no header", csvErr("", CSVOptions{}),
			"source: csv: input has no header", []error{ErrNoHeader}},
		{"jsonl no first line", jsonlErr("\n", JSONLOptions{}),
			"source: jsonl: input has no line to take the features from", []error{ErrNoHeader}},
		{"csv missing column", csvErr("a,b\n", CSVOptions{Columns: Columns{Target: "c"}}),
			`source: csv: invalid configuration: Target "c" is not a column of the header ["a" "b"]`, []error{ErrInvalidConfig}},
		{"csv duplicate header", csvErr("a,a\n", CSVOptions{}),
			`source: csv: invalid configuration: columns 1 and 2 are both named "a"`, []error{ErrInvalidConfig}},
		{"csv comma", csvErr("a\n", CSVOptions{Comma: '"'}),
			`source: csv: invalid configuration: '"' cannot separate fields`, []error{ErrInvalidConfig}},
		{"csv policy", csvErr("a\n", CSVOptions{OnError: Policy(9)}),
			"source: csv: invalid configuration: unknown error policy Policy(9)", []error{ErrInvalidConfig}},
		{"jsonl policy", jsonlErr("", JSONLOptions{OnError: Policy(9)}),
			"source: jsonl: invalid configuration: unknown error policy Policy(9)", []error{ErrInvalidConfig}},
		{"jsonl max line", jsonlErr("", JSONLOptions{MaxLineBytes: -1}),
			"source: jsonl: invalid configuration: MaxLineBytes -1", []error{ErrInvalidConfig}},
		{"jsonl two roles", jsonlErr("", JSONLOptions{Columns: Columns{Key: "k", Ignore: []string{"k"}}}),
			`source: jsonl: invalid configuration: column "k" is both key and ignored`, []error{ErrInvalidConfig}},
		{"csv empty name", csvErr("a\n", CSVOptions{Columns: Columns{Attrs: []string{""}}}),
			"source: csv: invalid configuration: an empty column name among the attribute columns", []error{ErrInvalidConfig}},
		{"jsonl feature with a role", jsonlErr("", JSONLOptions{Features: []string{"y"}, Columns: Columns{Target: "y"}}),
			`source: jsonl: invalid configuration: "y" is both a feature and target`, []error{ErrInvalidConfig}},
		{"csv read 0", read0(csvSrc),
			"source: csv: invalid configuration: read of 0 records", []error{ErrInvalidConfig}},
		{"slice read 0", read0(NewSlice(stream.Schema{Features: []string{"x"}}, nil)),
			"source: slice: invalid configuration: read of 0 records", []error{ErrInvalidConfig}},
		{"chan read 0", read0(NewChan(stream.Schema{Features: []string{"x"}}, nil)),
			"source: chan: invalid configuration: read of 0 records", []error{ErrInvalidConfig}},
		{"faker rate", read0(&Faker{Rate: -1}),
			"source: faker: invalid configuration: rate -1 records/s", []error{ErrInvalidConfig}},
		{"faker limit", read0(&Faker{Limit: -1}),
			"source: faker: invalid configuration: limit -1 records", []error{ErrInvalidConfig}},
		{"faker spec", read0(&Faker{Spec: Spec{Target: "y"}}),
			"source: faker: invalid configuration: spec: no features", []error{ErrInvalidConfig, stream.ErrInvalidSchema}},
		{"faker read 0", read0(&Faker{}),
			"source: faker: invalid configuration: read of 0 records", []error{ErrInvalidConfig}},
	}
	for _, tt := range tests {
		if !assert.Error(t, tt.err, tt.name) {
			continue
		}
		assert.Equal(t, tt.want, tt.err.Error(), tt.name)
		for _, target := range tt.is {
			assert.ErrorIs(t, tt.err, target, tt.name)
		}
	}
}
