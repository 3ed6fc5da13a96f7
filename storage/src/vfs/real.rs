//! [`RealVfs`]: the operating system's file system.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::{Vfs, VfsFile};

/// Files on the real file system. `sync` is `fdatasync`; creating, removing
/// and renaming a file also sync its directory so the change survives a
/// power cut.
#[derive(Clone, Debug, Default)]
pub struct RealVfs;

impl RealVfs {
    /// The real file system.
    pub fn new() -> RealVfs {
        RealVfs
    }
}

#[derive(Debug)]
struct RealFile {
    file: File,
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // Directories can only be synced on Unix; elsewhere this is a no-op.
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn path(dir: &str, name: &str) -> PathBuf {
    Path::new(dir).join(name)
}

impl Vfs for RealVfs {
    fn create_dir_all(&self, dir: &str) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn open(&self, dir: &str, name: &str, create: bool) -> io::Result<Box<dyn VfsFile>> {
        let p = path(dir, name);
        let existed = p.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(&p)?;
        if create && !existed {
            sync_dir(Path::new(dir))?;
        }
        Ok(Box::new(RealFile { file }))
    }

    fn exists(&self, dir: &str, name: &str) -> io::Result<bool> {
        Ok(path(dir, name).exists())
    }

    fn remove(&self, dir: &str, name: &str) -> io::Result<()> {
        fs::remove_file(path(dir, name))?;
        sync_dir(Path::new(dir))
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn rename(&self, dir: &str, from: &str, to: &str) -> io::Result<()> {
        fs::rename(path(dir, from), path(dir, to))?;
        sync_dir(Path::new(dir))
    }
}

#[cfg(unix)]
impl VfsFile for RealFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.file, data, offset)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}
