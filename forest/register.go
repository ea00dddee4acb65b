package forest

import "github.com/forestream/forestream/stream"

// The models register with stream, so that a stream.Model holding one can
// be saved with MarshalBinary and loaded with UnmarshalBinary.
func init() {
	stream.RegisterPart("forest.Regressor", func(data []byte) (*Regressor, error) {
		r := new(Regressor)
		if err := r.UnmarshalBinary(data); err != nil {
			return nil, err
		}
		return r, nil
	})
	stream.RegisterPart("forest.Classifier", func(data []byte) (*Classifier, error) {
		cl := new(Classifier)
		if err := cl.UnmarshalBinary(data); err != nil {
			return nil, err
		}
		return cl, nil
	})
}
