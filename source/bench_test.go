package source

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/forestream/forestream/stream"
)

func benchRead(b *testing.B, open func() stream.Source, rows int) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src := open()
		for n := 0; n < rows; {
			bt, _, err := src.Read(ctx, 1000)
			if err != nil {
				b.Fatal(err)
			}
			n += bt.Len()
		}
	}
	total := float64(b.N * rows)
	b.ReportMetric(total/b.Elapsed().Seconds(), "records/s")
}

func peopleText(rows int, line func(r stream.Record) string) []byte {
	s := &Faker{Seed: 1}
	bt, _, _ := s.Read(context.Background(), rows)
	var buf bytes.Buffer
	for _, r := range bt.Records {
		buf.WriteString(line(r))
	}
	return buf.Bytes()
}

func BenchmarkCSV(b *testing.B) {
	const rows = 10_000
	body := peopleText(rows, func(r stream.Record) string {
		x := r.Features
		return fmt.Sprintf("%g,%g,%g,%g,%g,%q,%s\n", x[0], x[1], x[2], x[3], r.Target, r.Attrs["name"], r.Attrs["city"])
	})
	in := append([]byte("age,years_employed,weekly_hours,education_years,salary,name,city\n"), body...)
	opts := CSVOptions{Columns: Columns{Target: "salary", Attrs: []string{"name", "city"}}}
	benchRead(b, func() stream.Source {
		src, err := NewCSV(bytes.NewReader(in), opts)
		if err != nil {
			b.Fatal(err)
		}
		return src
	}, rows)
}

func BenchmarkJSONL(b *testing.B) {
	const rows = 10_000
	in := peopleText(rows, func(r stream.Record) string {
		x := r.Features
		return fmt.Sprintf(`{"age":%g,"years_employed":%g,"weekly_hours":%g,"education_years":%g,"salary":%g,"name":%q,"city":%q}`+"\n",
			x[0], x[1], x[2], x[3], r.Target, r.Attrs["name"], r.Attrs["city"])
	})
	opts := JSONLOptions{Columns: Columns{Target: "salary", Attrs: []string{"name", "city"}}}
	benchRead(b, func() stream.Source {
		src, err := NewJSONL(bytes.NewReader(in), opts)
		if err != nil {
			b.Fatal(err)
		}
		return src
	}, rows)
}
