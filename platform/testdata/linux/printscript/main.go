// Command printscript prints platform.LinuxGatherScript for the native
// knobs given as arguments; capture.sh runs its output in a namespace.
package main

import (
	"fmt"
	"os"

	"github.com/fleettune/fleettune/platform"
)

func main() { fmt.Print(platform.LinuxGatherScript(os.Args[1:])) }
