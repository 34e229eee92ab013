//! A folder of static files made for one test, and removed after it.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A temporary `--root` for the server.
pub struct Site {
    path: PathBuf,
}

impl Site {
    /// Creates the folder with `files` (relative paths, folders created as
    /// needed), under the system's temporary folder.
    pub fn with(files: &[(&str, &[u8])]) -> Site {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "duplex-exercise-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        for (relative, contents) in files {
            let file = path.join(relative);
            fs::create_dir_all(file.parent().expect("a file has a folder")).expect("mkdir");
            fs::write(&file, contents).expect("write a site file");
        }
        fs::create_dir_all(&path).expect("mkdir");
        Site { path }
    }

    /// The path as a command-line argument.
    pub fn arg(&self) -> &str {
        self.path.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
