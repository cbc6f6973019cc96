//! Values crossing the storage boundary: what a statement is given ([`Param`]) and
//! what a column holds ([`ValueRef`], read into Rust types by [`FromColumn`]), the
//! same five kinds for SQLite and PostgreSQL.

use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef as SqlRef};

/// One value, borrowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl<'a> From<SqlRef<'a>> for ValueRef<'a> {
    fn from(v: SqlRef<'a>) -> Self {
        match v {
            SqlRef::Null => Self::Null,
            SqlRef::Integer(i) => Self::Int(i),
            SqlRef::Real(f) => Self::Real(f),
            // SQLite text is UTF-8 unless another program wrote bytes; those read as bytes.
            SqlRef::Text(t) => std::str::from_utf8(t).map_or(Self::Blob(t), Self::Text),
            SqlRef::Blob(b) => Self::Blob(b),
        }
    }
}

/// A statement parameter.
pub trait Param {
    fn value(&self) -> ValueRef<'_>;
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> ValueRef<'_> {
                // Counts and sizes beyond i64 do not occur; saturate rather than wrap.
                ValueRef::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_param!(i64, i32, u32, u64, usize, u16, u8);

impl Param for f64 {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

impl Param for bool {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::from(*self))
    }
}

impl Param for str {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl Param for String {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl Param for [u8] {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> ValueRef<'_> {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> ValueRef<'_> {
        self.as_ref().map_or(ValueRef::Null, Param::value)
    }
}

/// A statement's parameters: `params![a, b]`, an array of one type (`[id]`), `[]`,
/// or a slice.
pub trait Params {
    fn with<R>(&self, f: impl FnOnce(&[&dyn Param]) -> R) -> R;
}

impl Params for [&dyn Param; 0] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn Param]) -> R) -> R {
        f(&[])
    }
}

macro_rules! array_params {
    ($($n:literal)*) => {$(
        impl<T: Param> Params for [T; $n] {
            fn with<R>(&self, f: impl FnOnce(&[&dyn Param]) -> R) -> R {
                let refs: [&dyn Param; $n] = std::array::from_fn(|i| &self[i] as &dyn Param);
                f(&refs)
            }
        }
    )*};
}
array_params!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);

impl<T: Param> Params for &[T] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn Param]) -> R) -> R {
        let refs: Vec<&dyn Param> = self.iter().map(|p| p as &dyn Param).collect();
        f(&refs)
    }
}

impl<T: Param> Params for Vec<T> {
    fn with<R>(&self, f: impl FnOnce(&[&dyn Param]) -> R) -> R {
        self.as_slice().with(f)
    }
}

/// The parameters as rusqlite wants them (borrowed, no copies of text or bytes).
pub(super) fn sqlite_params<'a>(params: &'a [&'a dyn Param]) -> Vec<ToSqlOutput<'a>> {
    params
        .iter()
        .map(|p| {
            ToSqlOutput::Borrowed(match p.value() {
                ValueRef::Null => SqlRef::Null,
                ValueRef::Int(i) => SqlRef::Integer(i),
                ValueRef::Real(f) => SqlRef::Real(f),
                ValueRef::Text(t) => SqlRef::Text(t.as_bytes()),
                ValueRef::Blob(b) => SqlRef::Blob(b),
            })
        })
        .collect()
}

/// An owned value (what a PostgreSQL row is decoded into).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Self::Null => ValueRef::Null,
            Self::Int(i) => ValueRef::Int(*i),
            Self::Real(f) => ValueRef::Real(*f),
            Self::Text(t) => ValueRef::Text(t),
            Self::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl From<SqlValue> for Value {
    fn from(v: SqlValue) -> Self {
        match v {
            SqlValue::Null => Self::Null,
            SqlValue::Integer(i) => Self::Int(i),
            SqlValue::Real(f) => Self::Real(f),
            SqlValue::Text(t) => Self::Text(t),
            SqlValue::Blob(b) => Self::Blob(b),
        }
    }
}

impl Param for Value {
    fn value(&self) -> ValueRef<'_> {
        self.as_ref()
    }
}

/// A Rust type a column can be read as. Conversions are the ones SQLite itself makes
/// (an integer reads as a real, 0/1 as a bool), so both stores read alike.
pub trait FromColumn: Sized {
    fn from_column(v: ValueRef<'_>) -> Result<Self, String>;
}

fn wrong(want: &str, v: ValueRef<'_>) -> String {
    let got = match v {
        ValueRef::Null => "NULL",
        ValueRef::Int(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "bytes",
    };
    format!("expected {want}, found {got}")
}

impl FromColumn for i64 {
    fn from_column(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Int(i) => Ok(i),
            other => Err(wrong("an integer", other)),
        }
    }
}

macro_rules! narrow_int {
    ($($t:ty),*) => {$(
        impl FromColumn for $t {
            fn from_column(v: ValueRef<'_>) -> Result<Self, String> {
                let i = i64::from_column(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} is out of range for {}", stringify!($t)))
            }
        }
    )*};
}
narrow_int!(i32, u32, u64, usize, u16, u8);

impl FromColumn for f64 {
    fn from_column(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Real(f) => Ok(f),
            #[expect(clippy::cast_precision_loss, reason = "as SQLite itself converts")]
            ValueRef::Int(i) => Ok(i as f64),
            other => Err(wrong("a number", other)),
        }
    }
}

impl FromColumn for bool {
    fn from_column(v: ValueRef<'_>) -> Result<Self, String> {
        Ok(i64::from_column(v)? != 0)
    }
}

impl FromColumn for String {
    fn from_column(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Text(t) => Ok(t.to_owned()),
            other => Err(wrong("text", other)),
        }
    }
}

impl FromColumn for Vec<u8> {
    fn from_column(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(t) => Ok(t.as_bytes().to_vec()),
            other => Err(wrong("bytes", other)),
        }
    }
}

impl FromColumn for Value {
    fn from_column(v: ValueRef<'_>) -> Result<Self, String> {
        Ok(match v {
            ValueRef::Null => Self::Null,
            ValueRef::Int(i) => Self::Int(i),
            ValueRef::Real(f) => Self::Real(f),
            ValueRef::Text(t) => Self::Text(t.to_owned()),
            ValueRef::Blob(b) => Self::Blob(b.to_vec()),
        })
    }
}

impl<T: FromColumn> FromColumn for Option<T> {
    fn from_column(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            other => T::from_column(other).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_convert_as_sqlite_does() {
        assert_eq!(f64::from_column(ValueRef::Int(3)), Ok(3.0));
        assert_eq!(bool::from_column(ValueRef::Int(2)), Ok(true));
        assert_eq!(Option::<i64>::from_column(ValueRef::Null), Ok(None));
        assert!(u32::from_column(ValueRef::Int(-1)).is_err());
        assert!(i64::from_column(ValueRef::Text("1")).is_err());
        assert_eq!(String::from_column(ValueRef::Text("é")), Ok("é".to_owned()));
    }

    #[test]
    fn params_borrow_their_values() {
        let s = String::from("x");
        let none: Option<&str> = None;
        assert_eq!(s.value(), ValueRef::Text("x"));
        assert_eq!(none.value(), ValueRef::Null);
        assert_eq!(Some(7u32).value(), ValueRef::Int(7));
        assert_eq!(u64::MAX.value(), ValueRef::Int(i64::MAX));
    }
}
