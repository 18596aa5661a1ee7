package platform

import "fmt"

// newAIXDriver is a placeholder until the AIX driver lands.
func newAIXDriver() (Driver, error) {
	return nil, fmt.Errorf("no driver for aix yet")
}
