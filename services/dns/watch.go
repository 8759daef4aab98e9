package dns

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/internal/storewatch"
)

// startWatch fills the index from the store once (so that the server starts synced) and keeps
// it in step in the background (internal/storewatch's list-then-watch loop).
func (s *Server) startWatch(ctx context.Context, wg *sync.WaitGroup) error {
	st := s.cfg.Registry.Store()
	loop := storewatch.New(storewatch.Config{
		Store:   st,
		Logger:  s.cfg.Logger,
		Handler: storewatch.Funcs{OnResync: func() error { return s.resync(st) }, OnEvent: s.apply},
	})
	if err := loop.Start(); err != nil {
		return fmt.Errorf("dns index: %w", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		loop.Run(ctx)
	}()
	return nil
}

// resync replaces the index with the store's Namespaces, Services, EndpointSlices and Pods.
func (s *Server) resync(st *store.Store) error {
	var lists [4][]any
	for i, info := range []*resource.Info{resource.Namespaces, resource.Services, resource.EndpointSlices, resource.Pods} {
		objs, _, err := st.List(info, "", nil)
		if err != nil {
			return fmt.Errorf("list %s: %w", info.Kind, err)
		}
		for _, o := range objs {
			lists[i] = append(lists[i], o)
		}
	}
	s.index.replace(func(x *Index) {
		for _, o := range lists[0] {
			x.namespaces[o.(*corev1.Namespace).Name] = struct{}{}
		}
		for _, o := range lists[1] {
			svc := o.(*corev1.Service)
			x.services[nsName{svc.Namespace, svc.Name}] = toSvcRec(svc)
		}
		for _, o := range lists[2] {
			sl := o.(*discoveryv1.EndpointSlice)
			if r := toSliceRec(sl); r != nil {
				x.slices[nsName{sl.Namespace, sl.Name}] = r
			}
		}
		for _, o := range lists[3] {
			p := o.(*corev1.Pod)
			if p.Status.PodIP != "" && p.DeletionTimestamp == nil {
				x.pods[nsName{p.Namespace, p.Name}] = podRec{name: p.Name, ns: p.Namespace, ip: p.Status.PodIP}
			}
		}
	})
	return nil
}

func (s *Server) apply(e *store.Event) {
	del := e.Type == watch.Deleted
	switch e.Resource {
	case resource.Namespaces:
		if ns, ok := e.Object.(*corev1.Namespace); ok && !del {
			s.index.SetNamespace(ns)
		} else if del {
			s.index.DeleteNamespace(e.Name)
		}
	case resource.Services:
		if svc, ok := e.Object.(*corev1.Service); ok && !del {
			s.index.SetService(svc)
		} else if del {
			s.index.DeleteService(e.Namespace, e.Name)
		}
	case resource.EndpointSlices:
		if sl, ok := e.Object.(*discoveryv1.EndpointSlice); ok && !del {
			s.index.SetEndpointSlice(sl)
		} else if del {
			s.index.DeleteEndpointSlice(e.Namespace, e.Name)
		}
	case resource.Pods:
		if p, ok := e.Object.(*corev1.Pod); ok && !del {
			s.index.SetPod(p)
		} else if del {
			s.index.DeletePod(e.Namespace, e.Name)
		}
	}
}
