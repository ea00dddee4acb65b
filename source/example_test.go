package source_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/forestream/forestream/source"
	"github.com/forestream/forestream/stream"
)

func ExampleFaker() {
	src := &source.Faker{Seed: 1, Limit: 3} // Rate: 0, so unpaced
	fmt.Println(src.Schema().Features, "→", src.Schema().Target)
	for {
		// The pipeline passes its BatchSize as max.
		b, _, err := src.Read(context.Background(), 2)
		if errors.Is(err, io.EOF) {
			break
		}
		for _, r := range b.Records {
			fmt.Printf("%v → %.0f  %s, %s, %s\n", r.Features, r.Target, r.Attrs["name"], r.Attrs["job"], r.Attrs["city"])
		}
	}
	// Output:
	// [age years_employed weekly_hours education_years] → salary
	// [28 3 16 19] → 36061  Alejandra Kunde, Producer, Denver
	// [55 2 58 13] → 98234  Austin Hackett, Consultant, Long Beach
	// [41 20 34 15] → 94524  Tomasa Steuber, Manager, Boston
}

// A schema of your own: named feature generators and a target function.
func ExampleSpec() {
	src := &source.Faker{
		Seed: 7,
		Spec: source.Spec{
			Features: []source.FeatureGen{
				{Name: "temperature", Gen: func(f *gofakeit.Faker, _ []float64) float64 {
					return f.Float64Range(-5, 35)
				}},
			},
			Target: "ice_creams",
			TargetFunc: func(f *gofakeit.Faker, x []float64) float64 {
				return max(0, 3*x[0]+f.Rand.NormFloat64())
			},
		},
	}
	b, _, _ := src.Read(context.Background(), 3)
	fmt.Println(src.Schema())
	for _, r := range b.Records {
		fmt.Printf("%.1f°C → %.1f\n", r.Features[0], r.Target)
	}
	// Output:
	// {[temperature] ice_creams}
	// 31.8°C → 96.2
	// 4.7°C → 13.4
	// 22.9°C → 69.4
}

func ExampleNewCSV() {
	in := `name,age,hours,salary
Ann,30,40,50000
Bob,41,35,
Cruz,abc,20,42000
Dee,52,45,81000
`
	src, err := source.NewCSV(strings.NewReader(in), source.CSVOptions{
		Columns: source.Columns{Target: "salary", Attrs: []string{"name"}},
		OnError: source.Skip,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(src.Schema())
	var recs []stream.Record
	for {
		b, _, err := src.Read(context.Background(), 100)
		recs = append(recs, b.Records...)
		if err != nil {
			break
		}
	}
	for _, r := range recs {
		fmt.Println(r.Attrs["name"], r.Features, r.Target, r.Labeled())
	}
	fmt.Println("skipped:", src.Skipped())

	// Under the default policy, Fail, the bad line stops the stream.
	strict, _ := source.NewCSV(strings.NewReader(in), source.CSVOptions{
		Columns: source.Columns{Target: "salary", Attrs: []string{"name"}},
	})
	_, _, err = strict.Read(context.Background(), 100)
	fmt.Println(err)
	// Output:
	// {[age hours] salary}
	// Ann [30 40] 50000 true
	// Bob [41 35] NaN false
	// Dee [52 45] 81000 true
	// skipped: 1
	// source: malformed input: line 4: field "age": not a number: "abc"
}
