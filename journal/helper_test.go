package journal

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
)

// The test binary doubles as a helper process (the os/exec pattern): with
// helperEnv set it does one job on the state dir in helperDir and exits.
const (
	helperEnv = "FLEETTUNE_JOURNAL_TEST_HELPER"
	helperDir = "FLEETTUNE_JOURNAL_TEST_DIR"
	helperRun = "FLEETTUNE_JOURNAL_TEST_RUN"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "append":
		os.Exit(helperAppend())
	case "append-forks":
		os.Exit(helperAppendForks())
	case "append-fsize":
		os.Exit(helperAppendFileSize())
	case "lock":
		os.Exit(helperLock())
	case "lock-ro":
		os.Exit(helperLockReadOnly())
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// helperWriter opens the helper's state directory and creates its run,
// or says why not on stderr and returns nil.
func helperWriter() *Writer {
	s, err := Open(os.Getenv(helperDir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return nil
	}
	w, err := s.Create(Header{ID: os.Getenv(helperRun), Kind: KindApply, Version: "test"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return nil
	}
	return w
}

// helperAppend creates a run and appends command records as fast as it can
// until it is killed.
func helperAppend() int {
	w := helperWriter()
	if w == nil {
		return 1
	}
	// Lines of varied length, some long, so that a kill can land anywhere.
	pad := strings.Repeat("x", 3000)
	for i := 0; ; i++ {
		err := w.Append(CommandRecord{Host: fmt.Sprintf("h%02d", i%7), Phase: PhaseApply, Cmd: fmt.Sprintf("cmd-%d", i), Stderr: pad[:i%3000]})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
}

// Forks of helperAppendForks, and commands per host.
const helperForks, helperCmds = 32, 3

// helperAppendForks creates a run and has helperForks goroutines journal
// hosts as apply does (a before record, then one AppendAll of the commands
// and result) as fast as they can, printing each host's name once its
// AppendAll returned, until it is killed.
func helperAppendForks() int {
	w := helperWriter()
	if w == nil {
		return 1
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	for f := range helperForks {
		go func() {
			for i := 0; ; i++ {
				name := fmt.Sprintf("f%02d-%05d", f, i)
				err := w.Append(BeforeRecord{Conn: Conn(sampleHost(name)), OS: "linux", Snapshot: sampleSnapshot(name)})
				if err == nil {
					err = w.AppendAll(hostRecords(name, helperCmds, 131*i+f)...)
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintln(out, name)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	select {}
}

// helperAppendFileSize journals hosts from helperForks goroutines with the
// process's file size limit (RLIMIT_FSIZE) set a little above the run's
// size, so that a group's write stops short in the middle, as on a full
// disk. It prints "limit N" and then, per call, "ok HOST", or "err HOST"
// with the error; it ends when every fork has met an error.
func helperAppendFileSize() int {
	s, err := Open(os.Getenv(helperDir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w, err := s.Create(Header{ID: os.Getenv(helperRun), Kind: KindApply, Version: "test"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st, err := os.Stat(w.Path())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	limit := st.Size() + 60000
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(limit), Max: ^uint64(0)}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("limit", limit)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for f := range helperForks {
		wg.Go(func() {
			for i := 0; ; i++ {
				name := fmt.Sprintf("f%02d-%05d", f, i)
				err := w.Append(BeforeRecord{Conn: Conn(sampleHost(name)), OS: "linux", Snapshot: sampleSnapshot(name)})
				what := "before"
				if err == nil {
					what = "all"
					err = w.AppendAll(hostRecords(name, helperCmds, 131*i+f)...)
				}
				mu.Lock()
				if err != nil {
					fmt.Printf("err %s %s %v\n", name, what, err)
				} else {
					fmt.Println("ok", name)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return 0
}

// helperLock takes the lock, says so on stdout and holds it until stdin
// closes (or it is killed).
func helperLock() int {
	s, err := Open(os.Getenv(helperDir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	lk, err := s.Lock(os.Getenv(helperRun), KindApply)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	if err := lk.Unlock(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// helperLockReadOnly opens the state dir and tries its lock, printing the
// error and whether it Is ErrReadOnly / ErrLocked.
func helperLockReadOnly() int {
	s, err := Open(os.Getenv(helperDir))
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	_, err = s.Lock("", "status")
	fmt.Printf("readonly=%v locked=%v err=%v\n", errors.Is(err, ErrReadOnly), errors.Is(err, ErrLocked), err)
	return 0
}

// helper starts the test binary as a helper doing job.
func helper(t *testing.T, job, dir, run string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+job, helperDir+"="+dir, helperRun+"="+run)
	cmd.Stderr = os.Stderr
	return cmd
}

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sampleHost(name string) inventory.Host {
	return inventory.Host{
		Name: name, Address: "10.0.0.7", Groups: []string{"all", "web"},
		Transport: "ssh", User: "ops", Timeout: 30 * time.Second,
		SSH: inventory.SSH{
			Port: 2222, IdentityFiles: []string{"/home/ops/.ssh/id_ed25519"}, KnownHosts: "/home/ops/.ssh/known_hosts",
			HostKeyChecking: "strict", ProxyJump: "ops@bastion:22", Become: "sudo", PasswordEnv: "WEB_PASSWORD",
		},
		WinRM: inventory.WinRM{Port: 5986, HTTPS: true, Auth: "ntlm", PasswordEnv: "FLEETTUNE_WINRM_PASSWORD"},
	}
}

func sampleTargets() platform.Targets {
	tw, ka := 30*time.Second, 5*time.Minute
	return platform.Targets{
		EphemeralPorts: &platform.PortRange{Low: 10240, High: 65535},
		TimeWait:       &tw, KeepaliveTime: &ka,
		Native: map[string]string{"net.ipv4.tcp_tw_reuse": "1"},
	}
}

func sampleSnapshot(name string) platform.Snapshot {
	old := "# old\nnet.ipv4.ip_local_port_range = 32768 60999\n"
	return platform.Snapshot{
		Knobs: map[string]platform.KnobState{
			"net.ipv4.ip_local_port_range": {Live: "32768\t60999", AtBoot: "32768 60999", AtBootSet: true},
			"net.ipv4.tcp_keepalive_time":  {Live: "7200"},
			"net.ipv4.tcp_fin_timeout":     {Missing: true},
		},
		Files: map[string]*string{"/etc/sysctl.d/90-fleettune.conf": &old, "/etc/sysctl.d/91-" + name + ".conf": nil},
	}
}

func sampleChanges() []platform.Change {
	return []platform.Change{{
		Setting: "ephemeral_ports", Knob: "net.ipv4.ip_local_port_range", Current: "32768-60999", Target: "10240-65535",
		Commands: []string{"sysctl -w net.ipv4.ip_local_port_range='10240 65535'"}, Persist: "net.ipv4.ip_local_port_range = 10240 65535",
	}}
}

// fill sets every field reachable from v to a distinct non-zero value, so
// that a round trip that drops a field, including one added later, fails.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(t, s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < 2; i++ {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(t, k, n)
			fill(t, e, n)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), n)
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fill(t, v.Field(i), n)
		}
	default:
		t.Fatalf("fill: %s has kind %s; teach fill about it", v.Type(), v.Kind())
	}
}
