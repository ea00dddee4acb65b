// Package forest provides random forests for forestream: a fast,
// reproducible regressor of its own, and a classifier built on
// github.com/malaschitz/randomForest.
//
// # Regressor
//
// A Config holds the settings. The number of trees must be set (100,
// DefaultTrees, is usual); every other zero field means its default (a
// third of the features tried at every split, leaves of at least one row,
// unlimited depth, bootstrap rows, all CPUs). Config.Fit grows a
// Regressor of CART regression trees with exact squared-error splits, the
// same model as scikit-learn's RandomForestRegressor:
//
//	r, err := forest.Config{Trees: 100, Seed: 1}.Fit(ctx, X, y)
//	yhat, err := r.Predict(x)
//
// Config is also a stream.Trainer, so a stream.Pipeline retrains it
// directly, and a Regressor is a stream.Predictor, stream.BatchPredictor and
// stream.HeldOutReporter.
//
// Training is reproducible: every tree draws from its own random stream,
// derived from Config.Seed and the tree's index, so the same seed and data
// give a bit-identical model whatever the number of workers.
//
// Training is fast by design. Each feature is sorted once per Fit and its
// values replaced by ranks; each tree keeps its in-bag rows sorted by every
// feature and stably partitions those lists at each split, so finding a
// split is a linear scan and no node ever sorts. Bootstrap samples are
// integer weights, not copied rows, and every worker reuses its buffers.
//
// Predict does not allocate (PredictBatch does, a few times a call, to
// share the rows among goroutines), and it is bound by memory: a row visits
// some 1,900 nodes of a 100-tree forest grown on 50,000 rows. So trees are
// laid out in blocks of several levels, and Predict walks all the trees at
// once, in rounds that move every tree down one block, asking the
// processor to prefetch each tree's next block as soon as it is known, so
// that the wait for memory overlaps the work on the other trees.
//
// On amd64 processors with SSSE3, POPCNT and BMI2 (checked at run time),
// a model of at most 16 features is laid out in 64-byte blocks of four
// levels: thresholds are stored as 16-bit codes, their ranks among up to
// 32,767 pivots per feature, and a row is coded once per call. A row whose
// code ties with a threshold that is not a pivot is decided by that
// threshold itself, kept apart, so predictions are exact; on the
// benchmark forest that happens 0.14 times a row. The walk, in assembly,
// compares the row with a block's 15 splits at once, and waits for memory
// once per four levels.
//
// Other models of up to 256 features, or any such model on other
// processors and architectures, are laid out in 128-byte blocks, two
// adjacent cache lines asked for together, each holding three levels of a
// tree with the leaf values inline. On amd64 their walk is in assembly and
// compares the row with a block's seven thresholds at once; elsewhere, or
// built with the purego tag, a portable walk loads every tree's next block
// in a tight loop and then descends. PredictBatch walks each row as Predict
// does in the first layout, and passes groups of rows through one tree at
// a time in the second, on all workers. (Models with more than 256
// features keep plain 16-byte nodes, walked in groups of trees.)
//
// A large forest also misses the processor's TLB, the cache of page
// addresses. On Linux (amd64 and arm64) a layout of 8 MiB or more (the
// 64-byte blocks with their leaf values and pivots, or the 128-byte
// blocks) is mapped outside the Go heap on 2 MiB huge pages, where the
// kernel allows them (transparent huge pages "madvise" or "always"), and
// each tree's 128-byte blocks are ordered so that a 4 KiB page holds a
// block and as many of its descendants as fit. That memory is returned
// when the model is no longer reachable; runtime.MemStats does not count
// it.
//
// The out-of-bag error (Regressor.HeldOut) is measured while training at
// almost no cost, and impurity-based feature importances summing to 1 (0
// if no split lowered the error) come with every model.
//
// # Classifier
//
// A ClassifierConfig trains a Classifier with malaschitz/randomForest,
// after validating every input the library would panic on. The library
// cannot be seeded, so classifier training is not reproducible. The trained
// trees are copied into this package's own flat arrays, so prediction and
// persistence are exact and independent of the library.
//
// As a Pipeline's Trainer, a ClassifierConfig takes targets that are class
// indices (as a stream.TargetChecker, it has a record with any other
// target refused on arrival as a bad record, instead of failing every
// retrain), and the model's Predict gives the most likely class; the live
// accuracy is Stats().Live.Correct, and a sink.Log with Classifier set
// logs it. For the class probabilities, hand the Classifier the row as the model transforms
// it:
//
//	m := p.Model()
//	x, err := m.Transform(raw)
//	...
//	probs, err := m.Predictor.(*forest.Classifier).Probabilities(x, nil)
//
// # Persistence
//
// Both models implement encoding.BinaryMarshaler, encoding.BinaryUnmarshaler,
// io.WriterTo and io.ReaderFrom. The format is versioned, starts with a
// magic string, ends with a CRC-32C checksum, and stores every float's bits,
// so a decoded model predicts exactly as the original. Truncated, corrupted
// or foreign input is reported as ErrFormat or ErrVersion, never as a panic.
//
// The binary format, version 2: all integers are little-endian; floats are
// IEEE 754 binary64 bit patterns, so a round trip is exact. Decoders also
// read version 1, which differs only in having no labels list in the
// classifier's body (every label below classes occurred).
//
//	header   magic [8]byte        "forestRG" (regressor) or "forestCL" (classifier)
//	         version uint32       2
//	         length uint64        number of body bytes
//	body     (see below)
//	trailer  crc uint32           CRC-32C (Castagnoli) of header and body
//
// Regressor body:
//
//	features uint32, trees uint32
//	oobN uint64, oobMSE float64, oobR2 float64
//	importances [features]float64
//	per tree:  nodes uint32, then per node (root first, every node before
//	           its children): feature int32, left int32, value float64
//
// A node with feature -1 is a leaf whose value is the prediction, and its
// left is 0. Otherwise value is the threshold: rows with x[feature] <= value
// go to node left of the same tree, the others to left+1, and left is
// greater than the node's own index, which rules out cycles. Every node but
// the root is the child of exactly one split.
//
// Classifier body:
//
//	features uint32, classes uint32 (the largest label plus one)
//	labels uint32, then [labels]uint32: the labels that occurred in
//	           training, ascending, the last being classes-1
//	trees uint32
//	importances [features]float64
//	per tree:  nodes uint32, then per node: feature int32, left int32,
//	           value float64, and for a leaf (feature -1) the
//	           probabilities of the listed labels [labels]float64, in
//	           their order, after value (which is 0).
//
// # Errors
//
// Bad input never panics: it returns an error wrapping one of the Err
// values of this package (ErrNoRows, ErrRaggedRows, ErrNonFinite,
// ErrFeatureCount, ...), whose message names the row, feature or setting at
// fault.
package forest
