package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// monotonic is CLOCK_MONOTONIC in nanoseconds.
func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// clock waits until an absolute CLOCK_MONOTONIC time on a timerfd read through Go's netpoller:
// the goroutine parks (no thread held in a sleep) and wakes within microseconds of the time, where
// Go's timers would round a sub-millisecond wait up to a millisecond.
type clock struct {
	fd  int
	f   *os.File
	buf [8]byte
}

func newClock() (*clock, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &clock{fd: fd, f: os.NewFile(uintptr(fd), "timerfd")}, nil
}

// waitUntil returns at `at` (ns, CLOCK_MONOTONIC), at once when it has passed.
func (c *clock) waitUntil(at int64) {
	if at <= monotonic() {
		return
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(at)}
	if err := unix.TimerfdSettime(c.fd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
		return
	}
	c.f.Read(c.buf[:])
}

func (c *clock) Close() error { return c.f.Close() }
