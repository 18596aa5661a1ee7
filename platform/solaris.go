package platform

import "fmt"

// newSolarisDriver is a placeholder until the Solaris driver lands.
func newSolarisDriver() (Driver, error) {
	return nil, fmt.Errorf("no driver for solaris yet")
}
