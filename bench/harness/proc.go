package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat. The kernel
// reports them in USER_HZ, which is 100 on every Linux architecture that
// matters here, whatever the kernel's own HZ (sysconf(_SC_CLK_TCK) would
// need cgo to ask).
const userHZ = 100

// CPUTicks is a process's CPU time so far, user plus system, in USER_HZ
// ticks (10 ms).
type CPUTicks uint64

// Seconds converts ticks to seconds.
func (t CPUTicks) Seconds() float64 { return float64(t) / userHZ }

// parseStatCPU reads utime+stime (fields 14 and 15) from the text of
// /proc/PID/stat. The command name (field 2) is in parentheses and may hold
// spaces and parentheses itself, so fields are counted after its last ')'.
func parseStatCPU(b []byte) (CPUTicks, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no ')' after the command name")
	}
	// After ")": field 3 (state) is the first.
	f := strings.Fields(string(b[i+1:]))
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least %d", len(f), stime+1)
	}
	u, err := strconv.ParseUint(f[utime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: utime: %w", err)
	}
	s, err := strconv.ParseUint(f[stime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: stime: %w", err)
	}
	return CPUTicks(u + s), nil
}

// ReadCPU reads a process's utime+stime.
func ReadCPU(pid int) (CPUTicks, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// Memory is a process's memory from /proc/PID/smaps_rollup, in bytes.
type Memory struct {
	// PSS is the proportional set size: private pages plus each shared page
	// divided by the number of processes mapping it. PSS of several
	// processes adds up to what they use together, which RSS does not.
	PSS uint64 `json:"pss"`
	// USS is the unique set size, Private_Clean + Private_Dirty (+
	// Private_Hugetlb): what ending the process would free.
	USS uint64 `json:"uss"`
	// RSS is reported for comparison only: it counts shared pages (libc,
	// libav, the binary's text) once per process.
	RSS uint64 `json:"rss"`
}

// parseSmapsRollup reads Pss, Private_* and Rss lines (in kB) of
// /proc/PID/smaps_rollup.
func parseSmapsRollup(b []byte) (Memory, error) {
	var m Memory
	var seenPSS bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("smaps_rollup: %s: %w", key, err)
		}
		v *= 1024
		switch key {
		case "Pss":
			m.PSS, seenPSS = v, true
		case "Rss":
			m.RSS = v
		case "Private_Clean", "Private_Dirty", "Private_Hugetlb":
			m.USS += v
		}
	}
	if !seenPSS {
		return m, errors.New("smaps_rollup: no Pss line")
	}
	return m, nil
}

// ReadMemory reads a process's PSS, USS and RSS.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return Memory{}, err
	}
	return parseSmapsRollup(b)
}

// MachineCPU is the aggregate "cpu" line of /proc/stat, in ticks.
type MachineCPU struct {
	Busy, Total uint64
}

// parseProcStat reads the first "cpu " line of /proc/stat: busy is every
// field but idle and iowait (guest time is already inside user and nice).
func parseProcStat(b []byte) (MachineCPU, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[0] != "cpu" {
			continue
		}
		var m MachineCPU
		for i, s := range f[1:] {
			if i >= 8 { // guest and guest_nice are counted in user and nice
				break
			}
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return m, fmt.Errorf("proc stat: cpu field %d: %w", i+1, err)
			}
			m.Total += v
			if i != 3 && i != 4 { // idle, iowait
				m.Busy += v
			}
		}
		return m, nil
	}
	return MachineCPU{}, errors.New("proc stat: no cpu line")
}

// ReadMachineCPU reads /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, err
	}
	return parseProcStat(b)
}

// Utilization is the busy share of all cores between two readings, 0..1.
func (m MachineCPU) Utilization(prev MachineCPU) float64 {
	if m.Total <= prev.Total {
		return 0
	}
	return float64(m.Busy-prev.Busy) / float64(m.Total-prev.Total)
}

// LoadAvg is /proc/loadavg's first three numbers.
func LoadAvg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

// procGroup is a named set of processes whose CPU and memory are summed:
// one camrelay, N ffmpegs, one MediaMTX, the rig's workers.
type procGroup struct {
	name string
	pids []int
}

// cpuSample is the summed CPU of a group at one instant.
type cpuSample struct {
	at    time.Time
	ticks CPUTicks
	// missing counts processes that could not be read (exited).
	missing int
}

func (g *procGroup) cpu() cpuSample {
	s := cpuSample{at: time.Now()}
	for _, pid := range g.pids {
		t, err := ReadCPU(pid)
		if err != nil {
			s.missing++
			continue
		}
		s.ticks += t
	}
	return s
}

// memory sums the group's PSS, USS and RSS.
func (g *procGroup) memory() (Memory, int) {
	var m Memory
	missing := 0
	for _, pid := range g.pids {
		x, err := ReadMemory(pid)
		if err != nil {
			missing++
			continue
		}
		m.PSS += x.PSS
		m.USS += x.USS
		m.RSS += x.RSS
	}
	return m, missing
}

// coresBetween is the CPU the group used between two samples, as a
// fraction of one core.
func coresBetween(a, b cpuSample) float64 {
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 || b.ticks < a.ticks {
		return 0
	}
	return (b.ticks - a.ticks).Seconds() / d
}
