package sink

import "strings"

// The prefixes that keep a line's keys apart. JSONL and Log give names in
// the same order and by the same rule, described in their doc comments,
// so that a reader who knows the schema knows every key.
const (
	featurePrefix = "feature."
	targetPrefix  = "target."
	attrPrefix    = "attr."
)

// claim returns the key a feature or the target is written under and marks
// it taken: name itself when it is free and does not start with "attr.",
// else name behind prefix, as many times as it takes to be free. Leaving
// "attr." to attributes is what lets attrName rename with a single prefix.
// It runs once per name, when the sink learns it, never per record.
func claim(taken map[string]bool, name, prefix string) string {
	if taken[name] || strings.HasPrefix(name, attrPrefix) {
		name = prefix + name
		for taken[name] {
			name = prefix + name
		}
	}
	taken[name] = true
	return name
}

// attrName is the key attribute k is written under, given the keys of the
// line's other fields: "attr."+k where k is one of them, and also where k
// starts with "attr.", so that a renamed attribute cannot meet one of the
// same name. No other field's key starts with "attr." (claim sees to it),
// so a renamed attribute meets none of them either.
func attrName(k string, fields map[string]bool) string {
	if fields[k] || strings.HasPrefix(k, attrPrefix) {
		return attrPrefix + k
	}
	return k
}
