package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podnet/podnet/api/resource"
)

var (
	metaBucket = []byte("meta")
	rvKey      = []byte("resourceVersion")
)

// Options tunes a Store; the zero value is usable.
type Options struct {
	// History is how many recent events are kept for watches that resume from a
	// resourceVersion (default 1024).
	History int
	// WatchBuffer is how many events may wait for one watcher before it is cut off (default 1024).
	WatchBuffer int
}

func (o *Options) setDefaults() {
	if o.History <= 0 {
		o.History = 1024
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = 1024
	}
}

// Store is the object store. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	opts Options

	// mu orders commits with their publication, so watchers see events in resourceVersion order.
	mu  sync.Mutex
	rv  uint64
	hub *hub
}

// Open opens (or creates) the store at path.
func Open(path string, opts Options) (*Store, error) {
	opts.setDefaults()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, opts: opts}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if v := b.Get(rvKey); v != nil {
			s.rv = binary.BigEndian.Uint64(v)
		} else if err := b.Put(rvKey, make([]byte, 8)); err != nil {
			return err
		}
		for _, info := range resource.All() {
			if _, err := tx.CreateBucketIfNotExists(bucketName(info)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.hub = newHub(opts.History, s.rv)
	return s, nil
}

// Close stops every watcher and closes the database.
func (s *Store) Close() error {
	s.hub.closeAll()
	return s.db.Close()
}

// ResourceVersion is the newest committed resourceVersion.
func (s *Store) ResourceVersion() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rv
}

func bucketName(info *resource.Info) []byte {
	return []byte(info.GVR.GroupVersion().String() + "/" + info.GVR.Resource)
}

// Key is where an object lives within its resource's bucket: "namespace/name", or "name".
func key(info *resource.Info, ns, name string) []byte {
	if !info.Namespaced {
		return []byte(name)
	}
	return []byte(ns + "/" + name)
}

func (s *Store) decode(info *resource.Info, data []byte) (runtime.Object, error) {
	obj := info.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("decode stored %s: %w", info.GVR.Resource, err)
	}
	return obj, nil
}

// Get returns one object, or a NotFound error.
func (s *Store) Get(info *resource.Info, ns, name string) (runtime.Object, error) {
	var obj runtime.Object
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketName(info)).Get(key(info, ns, name))
		if v == nil {
			return apierrors.NewNotFound(info.GroupResource(), name)
		}
		var err error
		obj, err = s.decode(info, v)
		return err
	})
	return obj, err
}

// Predicate selects objects in List and Watch; nil selects everything.
type Predicate func(obj runtime.Object) bool

// List returns the objects of a resource in namespace ns ("" for all) that match pred, and the
// resourceVersion the list is consistent with.
func (s *Store) List(info *resource.Info, ns string, pred Predicate) ([]runtime.Object, uint64, error) {
	var out []runtime.Object
	var rv uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		rv = binary.BigEndian.Uint64(tx.Bucket(metaBucket).Get(rvKey))
		return forEach(tx, info, ns, func(_, v []byte) error {
			obj, err := s.decode(info, v)
			if err != nil {
				return err
			}
			if pred == nil || pred(obj) {
				out = append(out, obj)
			}
			return nil
		})
	})
	return out, rv, err
}

func forEach(tx *bolt.Tx, info *resource.Info, ns string, fn func(k, v []byte) error) error {
	c := tx.Bucket(bucketName(info)).Cursor()
	if ns == "" || !info.Namespaced {
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := fn(k, v); err != nil {
				return err
			}
		}
		return nil
	}
	prefix := []byte(ns + "/")
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func hasPrefix(b, prefix []byte) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == string(prefix)
}

// write runs fn in a write transaction; fn returns the changes it made through the tx helper,
// which stamps each with the next resourceVersion. Events are published after the commit.
func (s *Store) write(fn func(w *writer) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &writer{s: s, rv: s.rv}
	err := s.db.Update(func(tx *bolt.Tx) error {
		w.tx = tx
		if err := fn(w); err != nil {
			return err
		}
		if w.rv == s.rv {
			return nil
		}
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], w.rv)
		return tx.Bucket(metaBucket).Put(rvKey, buf[:])
	})
	if err != nil {
		return err
	}
	s.rv = w.rv
	for _, e := range w.events {
		s.hub.publish(e)
	}
	return nil
}

type writer struct {
	s      *Store
	tx     *bolt.Tx
	rv     uint64
	events []*Event
}

func (w *writer) put(info *resource.Info, typ watch.EventType, obj, prev runtime.Object) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	w.rv++
	m.SetResourceVersion(strconv.FormatUint(w.rv, 10))
	data, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", info.GVR.Resource, m.GetName(), err)
	}
	b := w.tx.Bucket(bucketName(info))
	k := key(info, m.GetNamespace(), m.GetName())
	if typ == watch.Deleted {
		err = b.Delete(k)
	} else {
		err = b.Put(k, data)
	}
	if err != nil {
		return err
	}
	// Watchers share the event's objects: they get their own copy, so that callers may keep
	// changing what the write returned to them.
	published := obj.DeepCopyObject()
	w.events = append(w.events, &Event{Type: typ, Resource: info, RV: w.rv, Namespace: m.GetNamespace(),
		Name: m.GetName(), Object: published, Prev: prev})
	return nil
}

func (w *writer) get(info *resource.Info, ns, name string) (runtime.Object, error) {
	v := w.tx.Bucket(bucketName(info)).Get(key(info, ns, name))
	if v == nil {
		return nil, apierrors.NewNotFound(info.GroupResource(), name)
	}
	return w.s.decode(info, v)
}

// Create stores a new object and returns it with its resourceVersion; AlreadyExists if the name
// is taken.
func (s *Store) Create(info *resource.Info, obj runtime.Object) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	err = s.write(func(w *writer) error {
		if _, err := w.get(info, m.GetNamespace(), m.GetName()); err == nil {
			return apierrors.NewAlreadyExists(info.GroupResource(), m.GetName())
		}
		return w.put(info, watch.Added, obj, nil)
	})
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// UpdateFunc turns the stored object into its replacement. It runs inside the write transaction,
// so what it reads cannot change under it. Returning ErrNoChange leaves the object as it is;
// returning ErrDelete (with the object's last state) deletes it instead, in the same transaction.
type UpdateFunc func(cur runtime.Object) (runtime.Object, error)

var (
	// ErrNoChange tells Update that the object needs no write.
	ErrNoChange = errors.New("no change")
	// ErrDelete tells Update to delete the object: its last finalizer is gone, say. Deciding and
	// deleting in one transaction means no crash can leave the decision half done.
	ErrDelete = errors.New("delete")
)

// Update replaces (or, see ErrDelete, deletes) an object with what fn makes of it.
func (s *Store) Update(info *resource.Info, ns, name string, fn UpdateFunc) (runtime.Object, error) {
	var out runtime.Object
	err := s.write(func(w *writer) error {
		cur, err := w.get(info, ns, name)
		if err != nil {
			return err
		}
		next, err := fn(cur.DeepCopyObject())
		switch {
		case errors.Is(err, ErrNoChange):
			out = cur
			return nil
		case errors.Is(err, ErrDelete):
			out = next
			return w.put(info, watch.Deleted, next, cur)
		case err != nil:
			return err
		}
		out = next
		return w.put(info, watch.Modified, next, cur)
	})
	return out, err
}

// Delete removes an object. check, if not nil, sees the stored object first and may refuse.
func (s *Store) Delete(info *resource.Info, ns, name string, check func(cur runtime.Object) error) (runtime.Object, error) {
	return s.Update(info, ns, name, func(cur runtime.Object) (runtime.Object, error) {
		if check != nil {
			if err := check(cur); err != nil {
				return nil, err
			}
		}
		return cur, ErrDelete
	})
}

// Meta is the part of an object's metadata the lifecycle controllers work from.
type Meta struct {
	Name              string       `json:"name"`
	Namespace         string       `json:"namespace,omitempty"`
	UID               types.UID    `json:"uid"`
	DeletionTimestamp *metav1.Time `json:"deletionTimestamp,omitempty"`
	// DeletionGracePeriodSeconds tells a pod in its grace period from a finished deletion.
	DeletionGracePeriodSeconds *int64                  `json:"deletionGracePeriodSeconds,omitempty"`
	Finalizers                 []string                `json:"finalizers,omitempty"`
	OwnerReferences            []metav1.OwnerReference `json:"ownerReferences,omitempty"`
}

// ListMeta returns the metadata of every object of info in namespace ns ("" for all), without
// building the objects themselves: a controller pass over thousands of objects then costs little
// memory.
func (s *Store) ListMeta(info *resource.Info, ns string) ([]Meta, error) {
	var out []Meta
	err := s.db.View(func(tx *bolt.Tx) error {
		return forEach(tx, info, ns, func(_, v []byte) error {
			var obj struct {
				Metadata Meta `json:"metadata"`
			}
			if err := json.Unmarshal(v, &obj); err != nil {
				return fmt.Errorf("decode stored %s: %w", info.GVR.Resource, err)
			}
			out = append(out, obj.Metadata)
			return nil
		})
	})
	return out, err
}
