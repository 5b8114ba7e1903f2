package target

import (
	"context"
	"errors"
	"fmt"
)

// Class sorts a failure by what an operator has to do about it; the status
// API shows it next to the item.
type Class string

// Error classes.
const (
	ClassAuth          Class = "auth"             // wrong or expired credentials, or no permission
	ClassBucketMissing Class = "bucket-missing"   // the configured bucket or directory does not exist
	ClassLockDisabled  Class = "lock-not-enabled" // the bucket has no Object Lock: evidence there could be deleted
	ClassNetwork       Class = "network"          // the target could not be reached or the connection broke
	ClassIntegrity     Class = "integrity"        // the stored copy does not match the item's digest or size
	ClassOther         Class = "other"
)

// Error carries a failure's class through wrapping.
type Error struct {
	Class Class
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Class, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Errorf makes a classified error; %w in format wraps as with fmt.Errorf.
func Errorf(c Class, format string, args ...any) error {
	return &Error{Class: c, Err: fmt.Errorf(format, args...)}
}

// ClassOf returns the class of err: the class of the outermost *Error in its
// chain, ClassNetwork for a cancelled or timed-out context, ClassOther for
// anything unclassified and "" for nil.
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	var te *Error
	if errors.As(err, &te) {
		return te.Class
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ClassNetwork
	}
	return ClassOther
}
