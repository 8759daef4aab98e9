package allocator

// Txn is what one Create, Update or Delete reserved and what it will give up. The caller ends it
// with Commit once its store write succeeded or Rollback once it failed. Both are idempotent, the
// first one called wins, and both are safe on a nil *Txn.
type Txn struct {
	a *Allocator

	// ipsTaken are bitmap offsets, portsTaken port numbers, reserved by this call.
	ipsTaken, portsTaken []int
	// ipsToFree and portsToFree stay reserved until Commit, so that nobody can take them while the
	// change that gives them up may still fail.
	ipsToFree, portsToFree []int

	done bool
}

func (a *Allocator) newTxn() *Txn {
	return &Txn{a: a}
}

// Commit makes the releases effective and keeps the reservations.
func (t *Txn) Commit() {
	if t == nil {
		return
	}
	t.a.mu.Lock()
	defer t.a.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	t.a.freeLocked(t.ipsToFree, t.portsToFree)
}

// Rollback frees the reservations and keeps what was going to be released.
func (t *Txn) Rollback() {
	if t == nil {
		return
	}
	t.a.mu.Lock()
	defer t.a.mu.Unlock()
	t.rollbackLocked()
}

func (t *Txn) rollbackLocked() {
	if t.done {
		return
	}
	t.done = true
	t.a.freeLocked(t.ipsTaken, t.portsTaken)
}

func (a *Allocator) freeLocked(ipOffsets, ports []int) {
	for _, off := range ipOffsets {
		a.ipPool.release(off)
	}
	for _, p := range ports {
		if a.ports.Contains(p) {
			a.portPool.release(p - a.ports.Base)
		}
	}
}

// The methods below run with a.mu held.

func (t *Txn) takeIP(ip string) error {
	off, err := t.a.reserveIP(ip)
	if err != nil {
		return err
	}
	t.ipsTaken = append(t.ipsTaken, off)
	return nil
}

func (t *Txn) takeNextIP() (string, error) {
	off, err := t.a.reserveNextIP()
	if err != nil {
		return "", err
	}
	t.ipsTaken = append(t.ipsTaken, off)
	return t.a.ips.addr(off).String(), nil
}

func (t *Txn) takePort(port int) error {
	if err := t.a.reservePort(port); err != nil {
		return err
	}
	t.portsTaken = append(t.portsTaken, port)
	return nil
}

func (t *Txn) takeNextPort() (int, error) {
	port, err := t.a.reserveNextPort()
	if err != nil {
		return 0, err
	}
	t.portsTaken = append(t.portsTaken, port)
	return port, nil
}

func (t *Txn) freeIPLater(ip string) {
	if off, ok := t.a.ipOffset(ip); ok {
		t.ipsToFree = append(t.ipsToFree, off)
	}
}

func (t *Txn) freePortLater(port int) {
	t.portsToFree = append(t.portsToFree, port)
}
