package netplug

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"

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

type storeFile struct {
	Last         netip.Addr           `json:"last,omitzero"`
	Reservations map[netip.Addr]Owner `json:"reservations"`
	// HostPorts marks container IDs that got hostPort rules, so that a DEL
	// without runtimeConfig still removes them.
	HostPorts map[string]bool `json:"hostPorts,omitempty"`
}

// Store is netplug's persistent IPAM store: one JSON file per network under
// <dataDir>/<network>/, rewritten atomically (temp file, fsync, rename) under
// an exclusive flock on <dataDir>/<network>/lock, so concurrent plugin
// processes and crashes never lose or duplicate a reservation.
type Store struct {
	dir string
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
	sf := &storeFile{Reservations: map[netip.Addr]Owner{}}
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
		sf.Reservations = map[netip.Addr]Owner{}
	}
	return sf, nil
}

func (s *Store) save(sf *storeFile) error {
	b, err := json.Marshal(sf)
	if err != nil {
		return fmt.Errorf("encode IPAM store: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, ".reservations-*")
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

// Allocate returns the address reserved for owner in prefix, reserving the
// next free one after the last allocated (wrapping around) when it has none.
// The network, broadcast and gateway addresses are never handed out.
func (s *Store) Allocate(prefix netip.Prefix, gateway netip.Addr, owner Owner) (netip.Addr, error) {
	var got netip.Addr
	err := s.update(func(sf *storeFile) (bool, error) {
		for ip, o := range sf.Reservations {
			if o == owner && prefix.Contains(ip) {
				got = ip
				return false, nil
			}
		}
		first, last := prefix.Addr().Next(), lastAddr(prefix).Prev()
		start := first
		if sf.Last.IsValid() && prefix.Contains(sf.Last) && sf.Last.Less(last) {
			start = sf.Last.Next()
		}
		ip := start
		for {
			if _, taken := sf.Reservations[ip]; !taken && ip != gateway {
				got = ip
				break
			}
			if ip = ip.Next(); ip.Compare(last) > 0 {
				ip = first
			}
			if ip == start {
				return false, fmt.Errorf("%w %s", ErrRangeFull, prefix)
			}
		}
		sf.Reservations[got] = owner
		sf.Last = got
		return true, nil
	})
	return got, err
}

// Get returns the address reserved for owner, if any.
func (s *Store) Get(owner Owner) (netip.Addr, bool, error) {
	var got netip.Addr
	err := s.update(func(sf *storeFile) (bool, error) {
		for ip, o := range sf.Reservations {
			if o == owner {
				got = ip
			}
		}
		return false, nil
	})
	return got, got.IsValid(), err
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
		for ip, o := range sf.Reservations {
			if o == owner {
				delete(sf.Reservations, ip)
				changed = true
			}
		}
		return changed, nil
	})
}

// Retain drops every reservation whose owner keep rejects and returns them,
// sorted by address.
func (s *Store) Retain(keep func(Owner) bool) ([]Reservation, error) {
	var dropped []Reservation
	err := s.update(func(sf *storeFile) (bool, error) {
		for ip, o := range sf.Reservations {
			if !keep(o) {
				dropped = append(dropped, Reservation{IP: ip, Owner: o})
				delete(sf.Reservations, ip)
				delete(sf.HostPorts, o.ContainerID)
			}
		}
		return len(dropped) > 0, nil
	})
	sort.Slice(dropped, func(i, j int) bool { return dropped[i].IP.Less(dropped[j].IP) })
	return dropped, err
}

// List returns every reservation, sorted by address.
func (s *Store) List() ([]Reservation, error) {
	var all []Reservation
	err := s.update(func(sf *storeFile) (bool, error) {
		for ip, o := range sf.Reservations {
			all = append(all, Reservation{IP: ip, Owner: o})
		}
		return false, nil
	})
	sort.Slice(all, func(i, j int) bool { return all[i].IP.Less(all[j].IP) })
	return all, err
}

// Free counts the addresses of prefix still available.
func (s *Store) Free(prefix netip.Prefix, gateway netip.Addr) (int, error) {
	used := 0
	err := s.update(func(sf *storeFile) (bool, error) {
		for ip := range sf.Reservations {
			if prefix.Contains(ip) && ip != gateway {
				used++
			}
		}
		return false, nil
	})
	total := 1<<(32-prefix.Bits()) - 2
	if prefix.Contains(gateway) {
		total--
	}
	return total - used, err
}
