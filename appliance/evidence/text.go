package evidence

import (
	"encoding/hex"
	"maps"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Text from outside the appliance (file names on a docked camera, device
// fields, user names typed at a login form, HTTP headers) is not always
// UTF-8. JSON, which stores events and records, cannot carry such bytes: it
// replaces them, and the stored event then no longer matches its hash. So
// every string is made valid before it is hashed, and the bytes it had are
// kept beside it in hex, because a file name is evidence too.
const (
	// RawSuffix names the detail (or Item.Raw entry) that keeps the
	// original bytes of a value that was not UTF-8, hex encoded.
	RawSuffix = ".raw-hex"
	// rawKeyPrefix replaces a detail key that was not UTF-8 by its hex.
	rawKeyPrefix = "key-hex:"
)

// ValidText returns s unchanged when it is UTF-8, and otherwise a copy in
// which each invalid byte became U+FFFD, with ok false.
func ValidText(s string) (clean string, ok bool) {
	if utf8.ValidString(s) {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String(), false
}

// TruncateText cuts s to at most max bytes without splitting a character.
func TruncateText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// OriginalText undoes the escaping of a details map: the value of key as it
// arrived, bytes that were not UTF-8 included.
func OriginalText(details map[string]string, key string) string {
	if raw, ok := details[key+RawSuffix]; ok {
		if b, err := hex.DecodeString(raw); err == nil {
			return string(b)
		}
	}
	return details[key]
}

// Sanitized returns the event with every string made valid UTF-8; what
// changed is kept losslessly in details ("<key>.raw-hex", "actor.raw-hex",
// and keys that were not UTF-8 become "key-hex:<hex>"). An event that was
// already valid comes back unchanged.
func (e CustodyEvent) Sanitized() CustodyEvent {
	details := e.Details
	copied := false
	set := func(k, v string) {
		if !copied {
			details = maps.Clone(e.Details)
			if details == nil {
				details = map[string]string{}
			}
			copied = true
		}
		details[k] = v
	}
	if clean, ok := ValidText(string(e.Actor)); !ok {
		set("actor"+RawSuffix, hex.EncodeToString([]byte(e.Actor)))
		e.Actor = Actor(clean)
	}
	if clean, ok := ValidText(string(e.Action)); !ok {
		set("action"+RawSuffix, hex.EncodeToString([]byte(e.Action)))
		e.Action = Action(clean)
	}
	for k, v := range e.Details {
		key := k
		if !utf8.ValidString(k) {
			key = rawKeyPrefix + hex.EncodeToString([]byte(k))
			set(key, v)
			delete(details, k)
			v = details[key]
		}
		if clean, ok := ValidText(v); !ok {
			set(key, clean)
			set(key+RawSuffix, hex.EncodeToString([]byte(v)))
		}
	}
	e.Details = details
	return e
}

// Sanitized returns the record with every string made valid UTF-8; the
// bytes of a field that changed are kept in Raw, under the field's JSON
// name ("original_name", "labels.<key>", "problems.<i>.detail", ...).
func (it Item) Sanitized() Item {
	raw := it.Raw
	copied := false
	keep := func(name string, s *string) {
		clean, ok := ValidText(*s)
		if ok {
			return
		}
		if !copied {
			raw = maps.Clone(it.Raw)
			if raw == nil {
				raw = map[string]string{}
			}
			copied = true
		}
		raw[name] = hex.EncodeToString([]byte(*s))
		*s = clean
	}
	keep("source", &it.Source)
	keep("officer", &it.Officer)
	keep("original_name", &it.OriginalName)
	keep("relation", &it.Relation)
	keep("media.container", &it.Media.Container)
	keep("media.video_codec", &it.Media.VideoCodec)
	keep("media.audio_codec", &it.Media.AudioCodec)
	keep("media.error", &it.Media.Error)
	if len(it.Problems) > 0 {
		problems := make([]Problem, len(it.Problems))
		copy(problems, it.Problems)
		for i := range problems {
			keep(fieldName("problems", i, "code"), &problems[i].Code)
			keep(fieldName("problems", i, "detail"), &problems[i].Detail)
		}
		it.Problems = problems
	}
	if len(it.Labels) > 0 {
		labels := make(map[string]string, len(it.Labels))
		for k, v := range it.Labels {
			if !utf8.ValidString(k) {
				k = rawKeyPrefix + hex.EncodeToString([]byte(k))
			}
			keep("labels."+k, &v)
			labels[k] = v
		}
		it.Labels = labels
	}
	it.Raw = raw
	return it
}

func fieldName(list string, i int, field string) string {
	return list + "." + strconv.Itoa(i) + "." + field
}
