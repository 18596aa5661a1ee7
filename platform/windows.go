package platform

import "fmt"

// newWindowsDriver is a placeholder until the Windows driver lands.
func newWindowsDriver() (Driver, error) {
	return nil, fmt.Errorf("no driver for windows yet")
}
