package netplug

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// ErrRangeFull is returned by Store.Allocate when no address is left.
var ErrRangeFull = errors.New("no IP addresses available in range")

// Owner identifies an attachment: the CNI container ID and interface name.
type Owner struct {
	ContainerID string `json:"id"`
	IfName      string `json:"ifname"`
}

// Reservation is one allocated address and its owner.
type Reservation struct {
	IP    netip.Addr
	Owner Owner
}

// entry is a reservation as stored: its owner and when it was made (zero
// in stores written before creation times were kept: old enough for any GC).
type entry struct {
	Owner
	Created time.Time `json:"created,omitzero"`
}

type storeFile struct {
	// Last is the last address handed out, of a store written by a netplug
	// that knew one range only; LastIn replaces it, per range prefix.
	Last         netip.Addr            `json:"last,omitzero"`
	LastIn       map[string]netip.Addr `json:"lastIn,omitempty"`
	Reservations map[netip.Addr]entry  `json:"reservations"`
	// HostPorts marks container IDs that got hostPort rules, so that a DEL
	// without runtimeConfig still removes them.
	HostPorts map[string]bool `json:"hostPorts,omitempty"`
}

// tempPattern names the store's temporary files; one left by a writer
// killed between create and rename is removed by the next writer.
const tempPattern = ".reservations-*"

// syncDir makes a rename in dir durable. A variable so that a test can see
// it is called after the rename.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Store is netplug's persistent IPAM store: one JSON file per network under
// <dataDir>/<network>/, rewritten atomically (temp file, fsync, rename,
// fsync of the directory) under an exclusive flock on
// <dataDir>/<network>/lock, so concurrent plugin processes and crashes never
// lose or duplicate a reservation.
type Store struct {
	dir string
	// Now stamps new reservations (nil: time.Now); tests set a fake clock.
	Now func() time.Time
}

// OpenStore returns the store of network under dataDir, creating its directory.
func OpenStore(dataDir, network string) (*Store, error) {
	dir := filepath.Join(dataDir, network)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create IPAM dir: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Locked runs fn while holding the store's exclusive file lock.
func (s *Store) Locked(fn func() error) error {
	f, err := os.OpenFile(filepath.Join(s.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open IPAM lock: %w", err)
	}
	defer f.Close()
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("lock IPAM store: %w", err)
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN) //nolint:errcheck // closing releases it anyway
	return fn()
}

func (s *Store) path() string { return filepath.Join(s.dir, "reservations.json") }

func (s *Store) load() (*storeFile, error) {
	sf := &storeFile{Reservations: map[netip.Addr]entry{}}
	b, err := os.ReadFile(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return sf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read IPAM store: %w", err)
	}
	if err := json.Unmarshal(b, sf); err != nil {
		return nil, fmt.Errorf("decode IPAM store %s: %w", s.path(), err)
	}
	if sf.Reservations == nil {
		sf.Reservations = map[netip.Addr]entry{}
	}
	return sf, nil
}

// save replaces the store file; callers hold the lock, so any temporary
// file found is a dead writer's and goes.
func (s *Store) save(sf *storeFile) error {
	b, err := json.Marshal(sf)
	if err != nil {
		return fmt.Errorf("encode IPAM store: %w", err)
	}
	stale, err := filepath.Glob(filepath.Join(s.dir, tempPattern))
	if err != nil {
		return fmt.Errorf("list stale IPAM temp files: %w", err)
	}
	for _, f := range stale {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale IPAM temp file: %w", err)
		}
	}
	tmp, err := os.CreateTemp(s.dir, tempPattern)
	if err != nil {
		return fmt.Errorf("write IPAM store: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write IPAM store: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync IPAM store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write IPAM store: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path()); err != nil {
		return fmt.Errorf("replace IPAM store: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("sync IPAM dir: %w", err)
	}
	return nil
}

// update runs fn on the loaded store under the lock and saves it when fn
// reports a change.
func (s *Store) update(fn func(sf *storeFile) (bool, error)) error {
	return s.Locked(func() error {
		sf, err := s.load()
		if err != nil {
			return err
		}
		changed, err := fn(sf)
		if err != nil || !changed {
			return err
		}
		return s.save(sf)
	})
}

func (r Range) contains(ip netip.Addr) bool {
	return r.Prefix.Contains(ip) && !ip.Less(r.Start) && !r.End.Less(ip)
}

// Allocate returns owner's address in each range, in the order of ranges,
// reserving for each range where owner has none the next free address after
// the last one handed out there (wrapping around). The gateway is never
// handed out. It is all or nothing: when one range is full, nothing is
// reserved.
func (s *Store) Allocate(ranges []Range, owner Owner) ([]netip.Addr, error) {
	got := make([]netip.Addr, len(ranges))
	err := s.update(func(sf *storeFile) (bool, error) {
		changed := false
		for i, r := range ranges {
			for ip, e := range sf.Reservations {
				if e.Owner == owner && r.contains(ip) {
					got[i] = ip
				}
			}
			if got[i].IsValid() {
				continue
			}
			key := r.Prefix.String()
			last, ok := sf.LastIn[key]
			if !ok && r.contains(sf.Last) {
				last = sf.Last
			}
			start := r.Start
			if r.contains(last) && last.Less(r.End) {
				start = last.Next()
			}
			ip := start
			for {
				if _, taken := sf.Reservations[ip]; !taken && ip != r.Gateway {
					got[i] = ip
					break
				}
				if ip = ip.Next(); r.End.Less(ip) {
					ip = r.Start
				}
				if ip == start {
					return false, fmt.Errorf("%w %s", ErrRangeFull, r.Prefix)
				}
			}
			sf.Reservations[got[i]] = entry{Owner: owner, Created: s.now().UTC()}
			if sf.LastIn == nil {
				sf.LastIn = map[string]netip.Addr{}
			}
			sf.LastIn[key] = got[i]
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return got, nil
}

// Addrs returns the addresses reserved for owner, sorted.
func (s *Store) Addrs(owner Owner) ([]netip.Addr, error) {
	var got []netip.Addr
	err := s.update(func(sf *storeFile) (bool, error) {
		for ip, e := range sf.Reservations {
			if e.Owner == owner {
				got = append(got, ip)
			}
		}
		return false, nil
	})
	sort.Slice(got, func(i, j int) bool { return got[i].Less(got[j]) })
	return got, err
}

// MarkHostPorts records that containerID has hostPort rules.
func (s *Store) MarkHostPorts(containerID string) error {
	return s.update(func(sf *storeFile) (bool, error) {
		if sf.HostPorts[containerID] {
			return false, nil
		}
		if sf.HostPorts == nil {
			sf.HostPorts = map[string]bool{}
		}
		sf.HostPorts[containerID] = true
		return true, nil
	})
}

// HasHostPorts reports whether MarkHostPorts recorded containerID and no
// Release or Retain dropped it since.
func (s *Store) HasHostPorts(containerID string) (bool, error) {
	var has bool
	err := s.update(func(sf *storeFile) (bool, error) {
		has = sf.HostPorts[containerID]
		return false, nil
	})
	return has, err
}

// Release drops every reservation of owner and its container's hostPort
// mark; a missing one is not an error.
func (s *Store) Release(owner Owner) error {
	return s.update(func(sf *storeFile) (bool, error) {
		changed := sf.HostPorts[owner.ContainerID]
		delete(sf.HostPorts, owner.ContainerID)
		for ip, e := range sf.Reservations {
			if e.Owner == owner {
				delete(sf.Reservations, ip)
				changed = true
			}
		}
		return changed, nil
	})
}

// retain drops from sf every reservation whose owner keep rejects, unless it
// was made after notBefore, and returns them and the owners kept only for
// being that young.
func retain(sf *storeFile, keep func(Owner) bool, notBefore time.Time) (dropped []Reservation, young map[Owner]bool) {
	young = map[Owner]bool{}
	for ip, e := range sf.Reservations {
		switch {
		case keep(e.Owner):
		case e.Created.After(notBefore):
			young[e.Owner] = true
		default:
			dropped = append(dropped, Reservation{IP: ip, Owner: e.Owner})
			delete(sf.Reservations, ip)
		}
	}
	for _, d := range dropped {
		if !young[d.Owner] {
			delete(sf.HostPorts, d.Owner.ContainerID)
		}
	}
	sort.Slice(dropped, func(i, j int) bool { return dropped[i].IP.Less(dropped[j].IP) })
	return dropped, young
}

// Retain drops every reservation whose owner keep rejects and that is older
// than grace, and returns them sorted by address (a GC that spares
// attachments whose ADD may have started after the runtime listed the valid
// ones).
func (s *Store) Retain(keep func(Owner) bool, grace time.Duration) ([]Reservation, error) {
	var dropped []Reservation
	err := s.update(func(sf *storeFile) (bool, error) {
		dropped, _ = retain(sf, keep, s.now().Add(-grace))
		return len(dropped) > 0, nil
	})
	return dropped, err
}

// List returns every reservation, sorted by address.
func (s *Store) List() ([]Reservation, error) {
	var all []Reservation
	err := s.update(func(sf *storeFile) (bool, error) {
		for ip, e := range sf.Reservations {
			all = append(all, Reservation{IP: ip, Owner: e.Owner})
		}
		return false, nil
	})
	sort.Slice(all, func(i, j int) bool { return all[i].IP.Less(all[j].IP) })
	return all, err
}

// Free counts the addresses of r still available (math.MaxInt when more).
func (s *Store) Free(r Range) (int, error) {
	used := 0
	err := s.update(func(sf *storeFile) (bool, error) {
		for ip := range sf.Reservations {
			if r.contains(ip) && ip != r.Gateway {
				used++
			}
		}
		return false, nil
	})
	return r.size() - used, err
}

// size is how many addresses r can hand out (math.MaxInt when more).
func (r Range) size() int {
	n := new(big.Int).Sub(new(big.Int).SetBytes(r.End.AsSlice()), new(big.Int).SetBytes(r.Start.AsSlice()))
	n.Add(n, big.NewInt(1))
	if r.contains(r.Gateway) {
		n.Sub(n, big.NewInt(1))
	}
	if !n.IsInt64() || n.Int64() > math.MaxInt {
		return math.MaxInt
	}
	return int(n.Int64())
}
