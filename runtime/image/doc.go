// Package image is podnet's image store: it pulls images from registries and imports them from
// tarballs with go-containerregistry, unpacks every layer once into a directory of its own, and
// stacks those directories into an overlay root filesystem per container.
//
// It owns:
//   - reference normalisation as docker and kubelet do it (ParseReference: `nginx` is
//     docker.io/library/nginx:latest; tags and sha256 digests);
//   - the store directory, <data-dir>/images (Open):
//     store.json            metadata: tags and digests → image, image → layers (Store.List, Get)
//     configs/<hex>         each image's raw config, named by its digest (the image ID)
//     layers/<hex>          each layer unpacked, named by its diffID (uncompressed digest)
//     tmp/<pid>-…           work in progress, renamed into place when whole
//     lock                  flock(2) that serialises metadata changes between processes;
//   - pulls for linux/GOARCH with the Docker keychain, reporting per-layer progress
//     (Store.Pull), and errors that tell an unreachable registry (ErrRegistryUnreachable) from
//     an image that does not exist or may not be read, so the kubelet can fall back to a
//     present image only in the first case;
//   - imports of docker-archive (docker save) and OCI-layout tarballs (Store.Import);
//   - removal that drops one name and deletes an image, and the layers nothing else uses, once
//     no tag is left (Store.Remove);
//   - the overlay root filesystem of a container (MountRootfs, UnmountRootfs).
//
// Layers are unpacked for overlayfs: a `.wh.x` whiteout becomes a 0/0 character device x and a
// `.wh..wh..opq` marker becomes the trusted.overlay.opaque=y xattr on its directory. Ownership,
// modes, symlinks, hardlinks, device nodes, xattrs and times are kept; an entry whose path leaves
// the layer directory, or passes through a symlink, fails the unpack. A layer is unpacked into
// tmp/ and renamed into layers/ only when whole and its diffID verified, so a crash never leaves a
// half layer that looks whole; metadata is written to a temporary file, fsynced and renamed.
package image
