package forest

import "errors"

// Errors returned by this package. Every error wraps one of these, so check
// them with errors.Is; the message says which row, feature or setting is at
// fault.
var (
	// ErrNoRows is returned when there is nothing to train on.
	ErrNoRows = errors.New("forest: no training rows")
	// ErrNoFeatures is returned when the rows have no features.
	ErrNoFeatures = errors.New("forest: rows have no features")
	// ErrRaggedRows is returned when the training rows differ in length.
	ErrRaggedRows = errors.New("forest: rows of different lengths")
	// ErrTargetCount is returned when there are not exactly as many targets
	// (or labels) as rows.
	ErrTargetCount = errors.New("forest: number of targets differs from number of rows")
	// ErrNonFinite is returned for a NaN or infinite training feature or
	// target, and for a NaN feature at prediction time.
	ErrNonFinite = errors.New("forest: NaN or infinite value")
	// ErrTargetRange is returned for regression targets so large that the
	// squared sums behind the splits would overflow float64: the number of
	// rows times the largest |target| must stay below 1e150.
	ErrTargetRange = errors.New("forest: targets too large")
	// ErrInvalidConfig is returned when a setting is out of range.
	ErrInvalidConfig = errors.New("forest: invalid setting")
	// ErrFeatureCount is returned when a row to predict does not have the
	// number of features the model was trained with, or when the schema given
	// to Train disagrees with the rows.
	ErrFeatureCount = errors.New("forest: wrong number of features")
	// ErrBadLabel is returned by the classifier for a class label that is
	// not an integer in [0, MaxClasses).
	ErrBadLabel = errors.New("forest: bad class label")
	// ErrNotTrained is returned when a zero-value model is used.
	ErrNotTrained = errors.New("forest: model is not trained")
	// ErrFormat is returned when decoding input that is not a valid encoded
	// model: truncated, corrupted, or of another kind.
	ErrFormat = errors.New("forest: invalid encoded model")
	// ErrVersion is returned when decoding a model written in a format
	// version this package does not know.
	ErrVersion = errors.New("forest: unsupported format version")
	// ErrOutputLength is returned by PredictBatch when out is shorter than X.
	ErrOutputLength = errors.New("forest: output slice shorter than input")
)
