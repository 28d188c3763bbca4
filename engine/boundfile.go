package engine

import "golang.org/x/sys/unix"

// boundFile is the socket file a bind made, to remove when the socket's
// descriptor is closed (BindOptions.UnlinkOnClose).
type boundFile struct {
	path     string
	dev, ino uint64
	user     *Creds // whom the bind acted as, and so the removal
}

// noteBoundFile records the socket file a bind to path just made, so that
// the close removes it, and only it: a file put at the path since (the
// file removed and the path bound by another socket) stays.
func (s *Socket) noteBoundFile(path string, user *Creds) {
	var st unix.Stat_t
	if _, err := asUser(user, func() (int, error) { return 0, unix.Lstat(path, &st) }); err != nil {
		s.logDebug("bind: the socket file to remove on close", "path", path, "err", err)
		return
	}
	s.boundFile.Store(&boundFile{path: path, dev: st.Dev, ino: st.Ino, user: user})
}

// removeBoundFile removes the file noteBoundFile recorded, if its path
// still names that socket file.
func (s *Socket) removeBoundFile() {
	f := s.boundFile.Swap(nil)
	if f == nil {
		return
	}
	_, err := asUser(f.user, func() (int, error) {
		var st unix.Stat_t
		if err := unix.Lstat(f.path, &st); err != nil {
			return 0, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Dev != f.dev || st.Ino != f.ino {
			return 0, nil // not the file the bind made
		}
		return 0, unix.Unlink(f.path)
	})
	if err != nil {
		s.logDebug("close: the socket file the bind made", "path", f.path, "err", err)
	}
}
