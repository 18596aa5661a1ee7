package platform

import "fmt"

// newHPUXDriver is a placeholder until the HP-UX driver lands.
func newHPUXDriver() (Driver, error) {
	return nil, fmt.Errorf("no driver for hpux yet")
}
