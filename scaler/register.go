package scaler

import "github.com/forestream/forestream/stream"

// The frozen scalers a pipeline's models hold register with stream, so that
// a stream.Model holding one can be saved with MarshalBinary and loaded
// with UnmarshalBinary.
func init() {
	stream.RegisterPart("scaler.FrozenStandard", func(data []byte) (*FrozenStandard, error) {
		var s Standard
		if err := s.UnmarshalBinary(data); err != nil {
			return nil, err
		}
		return s.st.freeze(), nil
	})
	stream.RegisterPart("scaler.FrozenMinMax", func(data []byte) (*FrozenMinMax, error) {
		var m MinMax
		if err := m.UnmarshalBinary(data); err != nil {
			return nil, err
		}
		return m.st.freeze(), nil
	})
}
