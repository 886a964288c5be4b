//! Standard input and output without std's process-wide buffers.
//!
//! `std::io::stdin()` reads through an 8 KiB buffer and `stdout()` writes
//! through a line buffer; both live for the whole process and are never
//! freed, so the wiping allocator never clears them, and a request or reply
//! (secret included) would stay there after the helper is done with it. The
//! helper reads its requests and writes its replies straight through the
//! descriptors instead, to and from buffers it wipes itself.

use std::io::{self, Read, Write};

/// Standard input, unbuffered. A closed standard input reads as empty, as std's does.
pub struct RawStdin(platform::Stdin);

/// Standard output, unbuffered. Output to a closed one is dropped, as std's is.
pub struct RawStdout(platform::Stdout);

pub fn stdin() -> RawStdin {
    RawStdin(platform::stdin())
}

pub fn stdout() -> RawStdout {
    RawStdout(platform::stdout())
}

impl Read for RawStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for RawStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Unix and the rest: nothing to hold, only where the bytes go (`raw`).
#[cfg(not(windows))]
mod platform {
    use std::io;

    pub struct Stdin;
    pub struct Stdout;

    pub fn stdin() -> Stdin {
        Stdin
    }

    pub fn stdout() -> Stdout {
        Stdout
    }

    impl Stdin {
        pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            raw::read(buf)
        }
    }

    impl Stdout {
        pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            raw::write(buf)
        }
    }

    /// The descriptors themselves, so the bytes go where std's own would.
    #[cfg(unix)]
    mod raw {
        use std::io;

        pub fn read(buf: &mut [u8]) -> io::Result<usize> {
            match rustix::io::read(rustix::stdio::stdin(), buf) {
                Err(rustix::io::Errno::BADF) => Ok(0),
                result => result.map_err(io::Error::from),
            }
        }

        pub fn write(buf: &[u8]) -> io::Result<usize> {
            match rustix::io::write(rustix::stdio::stdout(), buf) {
                Err(rustix::io::Errno::BADF) => Ok(buf.len()),
                result => result.map_err(io::Error::from),
            }
        }
    }

    /// Elsewhere, std's own streams.
    #[cfg(not(unix))]
    mod raw {
        use std::io::{self, Read, Write};

        pub fn read(buf: &mut [u8]) -> io::Result<usize> {
            io::stdin().read(buf)
        }

        pub fn write(buf: &[u8]) -> io::Result<usize> {
            io::stdout().write(buf)
        }
    }
}

/// Duplicates of the standard handles, read and written directly.
#[cfg(windows)]
mod platform {
    use std::fs::File;
    use std::io::{self, Read, Write};
    use std::os::windows::io::AsHandle;

    pub struct Stdin(Option<File>);
    pub struct Stdout(Option<File>);

    fn duplicate(stream: &impl AsHandle) -> Option<File> {
        stream.as_handle().try_clone_to_owned().ok().map(File::from)
    }

    pub fn stdin() -> Stdin {
        Stdin(duplicate(&io::stdin()))
    }

    pub fn stdout() -> Stdout {
        Stdout(duplicate(&io::stdout()))
    }

    impl Stdin {
        pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match &mut self.0 {
                Some(file) => file.read(buf),
                None => Ok(0),
            }
        }
    }

    impl Stdout {
        pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            match &mut self.0 {
                Some(file) => file.write(buf),
                None => Ok(buf.len()),
            }
        }
    }
}
