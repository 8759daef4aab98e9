#!/usr/bin/env bash
# Builds the offline images of `make images` from Debian 12 packages, without docker:
#   build/images/busybox.tar  busybox:latest  (busybox-static, Cmd ["sh"])
#   build/images/nginx.tar    nginx:latest    (nginx with the libraries it needs, Cmd nginx -g 'daemon off;')
# Both are docker-archive tarballs written by hack/mkimage (go-containerregistry) with fixed owners
# and times, so a rebuild from the same packages gives the same image IDs. A tarball newer than
# this script and mkimage is left alone. Needs apt-get (Debian sources configured), dpkg-deb and
# readelf; not root.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
OUT=build/images
WORK=$OUT/work
DEBS=$OUT/debs
INPUTS=(hack/images.sh hack/mkimage/main.go)

up_to_date() { # tar
	[[ -f $1 ]] || return 1
	local i
	for i in "${INPUTS[@]}"; do
		[[ $1 -nt $i ]] || return 1
	done
}

# fetch PKG...: the .deb of each package into $DEBS (kept as a download cache).
fetch() {
	mkdir -p "$DEBS"
	local p
	for p in "$@"; do
		if ! compgen -G "$DEBS/${p}_*.deb" >/dev/null; then
			(cd "$DEBS" && apt-get download "$p" >&2)
		fi
	done
}

deb() { ls "$DEBS/${1}"_*.deb | sort -V | tail -n1; }

# lib_deps PKG: the library packages PKG depends on (alternatives: the first), excluding non-libraries
# such as debconf: an image needs the shared objects, not the packaging machinery.
lib_deps() {
	local f
	for f in Pre-Depends Depends; do
		dpkg-deb -f "$(deb "$1")" "$f" # one field at a time: several come back prefixed with their names
	done | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/ //g' |
		grep -E '^(lib.*|zlib1g|gcc-[0-9]+-base)$' || true
}

base_files() { # rootfs
	local r=$1
	mkdir -p "$r"/{etc,root,tmp,proc,sys,dev,run,var/tmp,home}
	chmod 1777 "$r/tmp" "$r/var/tmp"
	chmod 700 "$r/root"
	cat >"$r/etc/passwd" <<-'P'
		root:x:0:0:root:/root:/bin/sh
		www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
		nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
	P
	cat >"$r/etc/group" <<-'G'
		root:x:0:
		www-data:x:33:
		nogroup:x:65534:
	G
	printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$r/etc/nsswitch.conf"
}

# check_needed ROOTFS ELF: fail unless the loader and every DT_NEEDED object of ELF, recursively,
# is found in ROOTFS's library directories.
check_needed() {
	local r=$1 queue=("$2") f so loader found missing=0
	local -A done=()
	loader=$(readelf -l "$r/$2" | sed -n 's/.*interpreter: \(.*\)]/\1/p')
	[[ -e $r/usr/lib/x86_64-linux-gnu/${loader##*/} || -e $r/usr/lib/${loader##*/} || -e $r/usr/lib/aarch64-linux-gnu/${loader##*/} ]] ||
		{ echo "$2: loader $loader missing from the image" >&2; exit 1; }
	while ((${#queue[@]})); do
		f=${queue[0]} queue=("${queue[@]:1}")
		for so in $(readelf -d "$r/$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
			[[ -n ${done[$so]:-} ]] && continue
			done[$so]=1
			found=$(cd "$r" && find usr/lib -name "$so" \( -type f -o -type l \) | head -n1)
			if [[ -z $found ]]; then
				echo "$f needs $so, which no package of the image holds" >&2
				missing=1
				continue
			fi
			queue+=("$(cd "$r" && realpath --relative-to=. -m "$found")")
		done
	done
	((missing == 0)) || exit 1
}

busybox_image() {
	local tar=$OUT/busybox.tar r=$WORK/busybox
	if up_to_date "$tar"; then echo "$tar is up to date"; return; fi
	fetch busybox-static
	rm -rf "$r" && mkdir -p "$r"
	dpkg-deb -x "$(deb busybox-static)" "$r"
	rm -rf "$r/usr/share/doc" "$r/usr/share/man"
	local bb=$r/bin/busybox
	[[ -x $bb ]] || { echo "busybox-static holds no /bin/busybox" >&2; exit 1; }
	base_files "$r"
	local applet
	for applet in $("$bb" --list-full); do
		[[ $applet == bin/busybox ]] && continue
		mkdir -p "$r/$(dirname "$applet")"
		[[ -e $r/$applet ]] || ln -s /bin/busybox "$r/$applet"
	done
	"$GO" run ./hack/mkimage -rootfs "$r" -tag busybox:latest -o "$tar" -cmd '["sh"]' \
		-env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
}

nginx_image() {
	local tar=$OUT/nginx.tar r=$WORK/nginx
	if up_to_date "$tar"; then echo "$tar is up to date"; return; fi
	# Debian 12's nginx package holds the binary (nginx-light and nginx-core became meta packages
	# in its updates); nginx-common holds mime.types and the default page.
	fetch nginx nginx-common
	local bin_pkg=nginx
	if ! dpkg-deb -c "$(deb nginx)" | grep '\./usr/sbin/nginx$' >/dev/null; then
		fetch nginx-light && bin_pkg=nginx-light
	fi
	# The closure of library packages.
	local -A seen=()
	local queue=("$bin_pkg") p d
	while ((${#queue[@]})); do
		p=${queue[0]} queue=("${queue[@]:1}")
		[[ -n ${seen[$p]:-} ]] && continue
		seen[$p]=1
		fetch "$p"
		for d in $(lib_deps "$p"); do queue+=("$d"); done
	done
	rm -rf "$r" && mkdir -p "$r"
	for p in "${!seen[@]}" nginx-common; do
		dpkg-deb -x "$(deb "$p")" "$r"
	done
	rm -rf "$r"/usr/share/{doc,man,lintian,info} "$r"/etc/{init.d,logrotate.d,ufw,default} "$r"/lib/systemd "$r"/usr/lib/systemd
	base_files "$r"
	# usrmerge: libc's loader is found at /lib64 whatever layout the packages use.
	for d in lib lib64 bin sbin; do
		if [[ -d $r/$d && ! -L $r/$d ]]; then
			mkdir -p "$r/usr/$d" && cp -a "$r/$d/." "$r/usr/$d/" && rm -rf "${r:?}/$d"
		fi
		mkdir -p "$r/usr/$d" && ln -sfn "usr/$d" "$r/$d"
	done
	mkdir -p "$r"/var/{log/nginx,lib/nginx,www} "$r"/run/lock "$r"/etc/nginx/{conf.d,sites-enabled} "$r/usr/share/nginx/html"
	ln -sfn ../run/lock "$r/var/lock"
	# As in the official image: the logs are the container's stdout and stderr (kubectl logs).
	ln -sfn /dev/stdout "$r/var/log/nginx/access.log"
	ln -sfn /dev/stderr "$r/var/log/nginx/error.log"
	rm -rf "$r"/etc/nginx/{sites-available,modules-enabled,modules-available} "$r"/etc/nginx/sites-enabled/*
	cat >"$r/etc/nginx/nginx.conf" <<-'C'
		user www-data;
		worker_processes auto;
		pid /run/nginx.pid;
		error_log /var/log/nginx/error.log notice;

		events {
			worker_connections 768;
		}

		http {
			include /etc/nginx/mime.types;
			default_type application/octet-stream;
			sendfile on;
			tcp_nopush on;
			keepalive_timeout 65;
			access_log /var/log/nginx/access.log;
			include /etc/nginx/conf.d/*.conf;
			include /etc/nginx/sites-enabled/*;
		}
	C
	cat >"$r/etc/nginx/sites-enabled/default" <<-'S'
		server {
			listen 80 default_server;
			server_name _;
			root /usr/share/nginx/html;
			index index.html;
			location / {
				try_files $uri $uri/ =404;
			}
		}
	S
	local page=$r/usr/share/nginx/html/index-debian.html
	[[ -f $page ]] && mv "$page" "$r/usr/share/nginx/html/index.html"
	if ! grep -qx '<title>Welcome to nginx!</title>' "$r/usr/share/nginx/html/index.html" 2>/dev/null; then
		cat >"$r/usr/share/nginx/html/index.html" <<-'H'
			<!DOCTYPE html>
			<html>
			<head>
			<title>Welcome to nginx!</title>
			</head>
			<body>
			<h1>Welcome to nginx!</h1>
			<p>If you see this page, the nginx web server is successfully installed and working.</p>
			</body>
			</html>
		H
	fi
	[[ -f $r/etc/nginx/mime.types ]] || { echo "nginx-common holds no mime.types" >&2; exit 1; }
	# Every shared object nginx needs, and theirs in turn, must be in the image's own library dirs
	# (the host's libraries must not make the check pass), and so must its loader.
	check_needed "$r" usr/sbin/nginx
	"$GO" run ./hack/mkimage -rootfs "$r" -tag nginx:latest -o "$tar" -cmd '["nginx","-g","daemon off;"]' \
		-port 80/tcp -stop-signal SIGQUIT \
		-env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
}

mkdir -p "$OUT"
busybox_image
nginx_image
