//! The crate's error type.

use std::fmt;
use std::io;

/// What went wrong, broadly.
///
/// ```
/// use faulthandler::ErrorKind;
/// match faulthandler::register(libc::SIGSEGV) {
///     Err(e) if e.kind() == ErrorKind::InvalidInput => {} // a crash signal is refused
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A setting or argument was out of range or otherwise unusable.
    InvalidInput,
    /// A system call failed; [`Error::os_error`] has the details.
    Os,
}

/// An error from enabling, configuring or driving faulthandler.
///
/// It says what was being done, and carries the operating system's error
/// where there is one.
///
/// ```
/// let err = faulthandler::Config::new().max_frames(0).enable().unwrap_err();
/// assert_eq!(err.kind(), faulthandler::ErrorKind::InvalidInput);
/// assert!(err.to_string().contains("max_frames"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Error {
    kind: ErrorKind,
    context: String,
    os: Option<io::Error>,
}

impl Error {
    pub(crate) fn invalid(context: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::InvalidInput,
            context: context.into(),
            os: None,
        }
    }

    /// The last OS error, for a call described by `context`.
    pub(crate) fn os(context: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Os,
            context: context.into(),
            os: Some(io::Error::last_os_error()),
        }
    }

    /// A failed std call, described by `context`.
    pub(crate) fn with_io(context: impl Into<String>, e: io::Error) -> Self {
        Error {
            kind: ErrorKind::Os,
            context: context.into(),
            os: Some(e),
        }
    }

    /// A value that a validator of [`crate::settings`] refused.
    pub(crate) fn refused<V: fmt::Debug>(e: crate::settings::Invalid, value: V) -> Self {
        Error::invalid(format!(
            "{} must be {}, not {value:?}",
            e.setting, e.expected
        ))
    }

    /// A failed system call whose errno is `errno`.
    pub(crate) fn from_raw_os(context: impl Into<String>, errno: i32) -> Self {
        Error {
            kind: ErrorKind::Os,
            context: context.into(),
            os: Some(io::Error::from_raw_os_error(errno)),
        }
    }

    /// An error of kind [`ErrorKind::Os`] from a failed std call,
    /// described by `context` (for faulthandler's own packages).
    ///
    /// ```
    /// let e = faulthandler::Error::from_io("opening the log", std::io::Error::other("gone"));
    /// assert_eq!(e.kind(), faulthandler::ErrorKind::Os);
    /// ```
    pub fn from_io(context: impl Into<String>, e: io::Error) -> Self {
        Error::with_io(context, e)
    }

    /// What kind of error this is.
    ///
    /// ```
    /// # let err = faulthandler::Config::new().max_frames(0).enable().unwrap_err();
    /// assert_eq!(err.kind(), faulthandler::ErrorKind::InvalidInput);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The operating system's error, when a system call failed.
    ///
    /// ```
    /// # let err = faulthandler::Config::new().max_frames(0).enable().unwrap_err();
    /// assert!(err.os_error().is_none());
    /// ```
    pub fn os_error(&self) -> Option<&io::Error> {
        self.os.as_ref()
    }

    /// The raw `errno` value, when a system call failed.
    ///
    /// ```
    /// # let err = faulthandler::Config::new().max_frames(0).enable().unwrap_err();
    /// assert_eq!(err.raw_os_error(), None);
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        self.os.as_ref().and_then(io::Error::raw_os_error)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "faulthandler: {}", self.context)?;
        if let Some(os) = &self.os {
            write!(f, ": {os}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.os
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e.os {
            Some(os) => io::Error::new(os.kind(), e.context + ": " + &os.to_string()),
            None => io::Error::new(io::ErrorKind::InvalidInput, e.context),
        }
    }
}
