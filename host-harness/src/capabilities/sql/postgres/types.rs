//! The `sql` contract's values on PostgreSQL's types, both ways, exactly or not at all.

use std::error::Error;

use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::Row;

use crate::capabilities::sql::error::SqlError;
use crate::capabilities::sql::value::SqlValue;

type BoxError = Box<dyn Error + Sync + Send>;

fn is_text(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    )
}

/// A parameter of the wrong type for its placeholder: what PostgreSQL inferred, and what the
/// plugin gave.
fn mismatch(value: &SqlValue, ty: &Type) -> BoxError {
    format!(
        "a {} value cannot be bound where PostgreSQL expects {}; cast the placeholder (CAST(? AS …)) or pass the matching type",
        value.type_name(),
        ty.name()
    )
    .into()
}

impl ToSql for SqlValue {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Integer(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)
                    .map_err(|_| format!("{n} does not fit the INTEGER (int4) placeholder"))?
                    .to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)
                    .map_err(|_| format!("{n} does not fit the SMALLINT (int2) placeholder"))?
                    .to_sql(ty, out),
                Type::FLOAT8 => (*n as f64).to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                _ => Err(mismatch(self, ty)),
            },
            SqlValue::Real(n) => match *ty {
                Type::FLOAT8 => n.to_sql(ty, out),
                Type::FLOAT4 => (*n as f32).to_sql(ty, out),
                _ => Err(mismatch(self, ty)),
            },
            SqlValue::Text(s) if is_text(ty) => s.as_str().to_sql(&Type::TEXT, out),
            SqlValue::Blob(b) if *ty == Type::BYTEA => b.as_slice().to_sql(ty, out),
            _ => Err(mismatch(self, ty)),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Column `i` of `row` as a contract value; a type without an exact counterpart is refused,
/// naming the column.
pub fn read(row: &Row, i: usize) -> Result<SqlValue, SqlError> {
    let column = &row.columns()[i];
    let ty = column.type_();
    let failed = |e: postgres::Error| {
        SqlError::Database(format!("column {} cannot be read: {e}", column.name()))
    };
    let value = match *ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)
            .map_err(failed)?
            .map(SqlValue::Integer),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map_err(failed)?
            .map(|n| SqlValue::Integer(i64::from(n))),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map_err(failed)?
            .map(|n| SqlValue::Integer(i64::from(n))),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)
            .map_err(failed)?
            .map(SqlValue::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)
            .map_err(failed)?
            .map(|n| SqlValue::Real(f64::from(n))),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map_err(failed)?
            .map(|b| SqlValue::Integer(i64::from(b))),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(i)
            .map_err(failed)?
            .map(SqlValue::Blob),
        _ if is_text(ty) => row
            .try_get::<_, Option<String>>(i)
            .map_err(failed)?
            .map(SqlValue::Text),
        _ => {
            return Err(SqlError::Refused(format!(
                "column {} has type {}, which no sql-value carries exactly: cast it to BIGINT, DOUBLE PRECISION or TEXT",
                column.name(),
                ty.name()
            )))
        }
    };
    Ok(value.unwrap_or(SqlValue::Null))
}
