package allocator

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// InvalidError is returned when the request itself is at fault. The API layer turns it into an
// Invalid status with apierrors.NewInvalid(kind, name, err.Errors).
type InvalidError struct {
	Errors field.ErrorList
}

func (e *InvalidError) Error() string {
	return e.Errors.ToAggregate().Error()
}

func invalid(errs ...*field.Error) error {
	return &InvalidError{Errors: errs}
}

// The texts below are upstream's word for word: they end up in the messages kubectl prints.
var (
	// ErrFull means a range has nothing left to hand out dynamically.
	ErrFull = errors.New("range is full")

	errIPAllocated   = errors.New("provided IP is already allocated")
	errPortAllocated = errors.New("provided port is already allocated")
)

type ipNotInRangeError struct {
	ip         string
	validRange string
}

func (e *ipNotInRangeError) Error() string {
	return fmt.Sprintf("the provided IP (%s) is not in the valid range. The range of valid IPs is %s", e.ip, e.validRange)
}

type portNotInRangeError struct {
	validPorts string
}

func (e *portNotInRangeError) Error() string {
	return fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %s", e.validPorts)
}
