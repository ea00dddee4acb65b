// Package scaler provides feature scalers that learn online from a stream:
// Standard, which brings every feature to mean 0 and standard deviation 1 as
// scikit-learn's StandardScaler does, and MinMax, which maps every feature
// onto a chosen range as its MinMaxScaler does.
//
// Both are stream.Fitter values. Fit learns from a batch, and can be called
// on batch after batch of an endless stream; Transform applies what has
// been learned so far to a batch in place; Freeze returns an immutable copy
// (a *FrozenStandard or *FrozenMinMax) that a stream.Model applies as the
// preprocessing of the one model version it was trained with, however much
// the live scaler learns afterwards. Frozen copies are safe for concurrent
// use; a live scaler may be read from many goroutines but changed
// (Fit, Merge, UnmarshalBinary) from one at a time, with no reader running.
//
// # Accuracy
//
// Standard computes each batch's mean and variance in two passes, with the
// correction term of Chan, Golub and LeVeque, and merges them into the
// running statistics with their pairwise update. All of it is measured from
// the first value seen of each feature, which keeps the numbers small when
// the data is large next to its spread. It agrees with a two-pass
// computation over all the data at once to about 1e-14 relative, whatever
// the batch sizes, on ordinary data and on data near 1e9 that varies by
// about 1 (the same update without the shift loses about 1e-8 there, fed
// one record at a time). The benefit fades if a feature later drifts away
// from its first value by many times its spread. Merge uses the same
// update, so scalers that learned from parts of a stream in parallel
// combine into what one scaler fed the whole stream would have learned.
//
// # Missing and bad values
//
// NaN is a missing value: it is left out of its feature's statistics (each
// feature has its own count) and passes through Transform as NaN. A feature
// of zero variance (or zero range) gets a scale of 1, as in scikit-learn,
// so nothing is ever divided by zero. A batch with a record of the wrong
// number of features, or with an infinite value given to Fit, is refused as
// a whole with an *InputError naming the record and the feature; no method
// panics on bad input.
//
// # Persistence
//
// MarshalBinary and UnmarshalBinary save and restore a scaler's options and
// statistics exactly (a restored scaler can go on learning), in a small
// binary format. All numbers are little-endian; floats are IEEE 754
// binary64 bit patterns. Format version 1:
//
//	offset  size  field
//	0       4     magic "FSSC" (forestream scaler)
//	4       1     format version, 1
//	5       1     kind: 'S' Standard, 'M' MinMax
//	6       1     flags: Standard: bit 0 no centering, bit 1 no scaling; MinMax: 0
//	7       1     reserved, 0
//	8       4     number of features d (uint32), 0 for a scaler that has learned nothing
//	12      16    MinMax only: target range lo, hi
//	...           d entries, one per feature:
//	              Standard: count (uint64, at most 2^53), shift, mean of x-shift, sum of squared deviations (32 bytes)
//	              MinMax:   count (uint64, at most 2^53), min, max (24 bytes)
//	end-4   4     CRC-32 (IEEE) of every byte before it
//
// The shift of a Standard is the first value it saw of the feature (see
// Accuracy); the mean is shift plus the mean of x-shift. A later format gets
// a new version number, and the decoder keeps reading every earlier one.
// Input that is truncated, corrupted, of an unknown version or of the other
// kind gives an error wrapping ErrFormat, never a panic.
package scaler
