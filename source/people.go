package source

import (
	"math"

	"github.com/brianvoe/gofakeit/v6"
	"github.com/brianvoe/gofakeit/v6/data"
)

// PeopleNoise is the standard deviation, in dollars, of the Gaussian noise
// People adds to PeopleSalary. It is 1/4.4 of the ground truth's spread
// (about $43,900), so the noise holds about 5% of the target's variance and
// the best possible model has an R² of about 0.95: room for a random forest
// to clear 0.8 live, and a ceiling that shows it is not fitting noise.
const PeopleNoise = 10_000

// PeopleSalary is the ground truth of the People schema: the yearly salary
// before noise, from x = [age, years_employed, weekly_hours,
// education_years]:
//
//	hourly = 12 + 3·max(0, education_years − 12)
//	            + 20·(1 − exp(−years_employed / 8))
//	            + 6·exp(−((age − 50) / 12)²)
//	paid   = min(weekly_hours, 40) + 1.5·max(0, weekly_hours − 40)
//	salary = 52 · hourly · paid
//
// Pay rises with schooling past high school, rises with experience but
// saturates, peaks in the late forties, and pays overtime at time and a half;
// hours and hourly pay multiply. Each term is nonlinear, so a linear model
// leaves much unexplained while a random forest can learn it.
//
// It panics if x has fewer than four features, like any index out of range.
func PeopleSalary(x []float64) float64 {
	age, years, hours, edu := x[0], x[1], x[2], x[3]
	a := (age - 50) / 12
	hourly := 12 + 3*math.Max(0, edu-12) + 20*(1-math.Exp(-years/8)) + 6*math.Exp(-a*a)
	paid := math.Min(hours, 40) + 1.5*math.Max(0, hours-40)
	return 52 * hourly * paid
}

// People returns the default Spec of Faker: synthetic working people.
//
// Features, in order: age (18–67 years), years_employed (0 to age − 18),
// weekly_hours (10–60) and education_years (8–22), each a whole number drawn
// uniformly. The target, salary, is PeopleSalary of the features plus
// Gaussian noise with standard deviation PeopleNoise, rounded to the dollar;
// its mean is about $72,000. The attributes name, city and job are carried
// along and do not affect the salary.
//
// The ceiling on R², 1 − noise variance / target variance, is about 0.95
// (measured on 200,000 records: see TestPeopleCeiling).
func People() Spec {
	return Spec{
		Features: []FeatureGen{
			{Name: "age", Gen: func(f *gofakeit.Faker, _ []float64) float64 {
				return float64(f.Number(18, 67))
			}},
			{Name: "years_employed", Gen: func(f *gofakeit.Faker, x []float64) float64 {
				return float64(f.Number(0, int(x[0])-18))
			}},
			{Name: "weekly_hours", Gen: func(f *gofakeit.Faker, _ []float64) float64 {
				return float64(f.Number(10, 60))
			}},
			{Name: "education_years", Gen: func(f *gofakeit.Faker, _ []float64) float64 {
				return float64(f.Number(8, 22))
			}},
		},
		Target: "salary",
		TargetFunc: func(f *gofakeit.Faker, x []float64) float64 {
			return math.Round(PeopleSalary(x) + PeopleNoise*f.Rand.NormFloat64())
		},
		Attrs: []AttrGen{
			{Name: "name", Gen: fakeName},
			{Name: "city", Gen: fakeCity},
			{Name: "job", Gen: fakeJob},
		},
	}
}

// The word lists behind gofakeit's Name, City and JobTitle. Those functions
// find their list by name in nested maps on every call, which took 40% of
// Faker's time; indexing the lists directly makes the same single draw from
// f.Rand, so the values are exactly what f.Name(), f.City() and
// f.JobTitle() would return.
var (
	firstNames = data.Person["first"]
	lastNames  = data.Person["last"]
	cities     = data.Address["city"]
	jobTitles  = data.Job["title"]
)

func fakeName(f *gofakeit.Faker) string {
	first := firstNames[f.Rand.Intn(len(firstNames))]
	return first + " " + lastNames[f.Rand.Intn(len(lastNames))]
}

func fakeCity(f *gofakeit.Faker) string { return cities[f.Rand.Intn(len(cities))] }

func fakeJob(f *gofakeit.Faker) string { return jobTitles[f.Rand.Intn(len(jobTitles))] }
