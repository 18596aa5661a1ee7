package platform

import "fmt"

// newTru64Driver is a placeholder until the Tru64 driver lands.
func newTru64Driver() (Driver, error) {
	return nil, fmt.Errorf("no driver for tru64 yet")
}
