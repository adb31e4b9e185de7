//! `count(DISTINCT text)` for all groups at once. DataFusion 55 has a groups accumulator
//! for distinct integers only; for text it keeps one accumulator, with its own hash set,
//! per group and feeds them group by group. The gold queries count distinct `user_id`s
//! per hour and hashtag or region: here each value gets a number once, the (group,
//! number) pairs are appended to one list, and the list is sorted when counted. Sessions
//! that run SQL over the lake get DataFusion's `count` with this accumulator for text.

use crate::key_set::KeySet;
use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, StringBuilder, StringViewBuilder,
};
use deltalake::arrow::buffer::OffsetBuffer;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef};
use deltalake::datafusion::common::{Result, ScalarValue, exec_err};
use deltalake::datafusion::functions_aggregate::count::Count;
use deltalake::datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use deltalake::datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator,
    ReversedUDAF, SetMonotonicity, Signature, StatisticsArgs,
};
use deltalake::datafusion::prelude::SessionContext;
use std::sync::Arc;

/// Replaces `count` in `ctx` by one that counts distinct text in one table.
pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(AggregateUDF::from(CountDistinctText(Count::new())));
}

/// DataFusion's `count`, with a groups accumulator for `count(DISTINCT text)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CountDistinctText(Count);

/// The text types the accumulator reads (DataFusion reads Parquet text as views).
fn text_kind(args: &AccumulatorArgs) -> Option<DataType> {
    let [field] = args.expr_fields else {
        return None;
    };
    match field.data_type() {
        t @ (DataType::Utf8 | DataType::Utf8View) if args.is_distinct => Some(t.clone()),
        _ => None,
    }
}

impl AggregateUDFImpl for CountDistinctText {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn aliases(&self) -> &[String] {
        self.0.aliases()
    }
    fn signature(&self) -> &Signature {
        self.0.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.0.return_type(arg_types)
    }
    fn is_nullable(&self) -> bool {
        self.0.is_nullable()
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.0.state_fields(args)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.0.accumulator(args)
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        text_kind(&args).is_some() || self.0.groups_accumulator_supported(args)
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        match text_kind(&args) {
            Some(kind) => Ok(Box::new(DistinctTextCounts::new(kind))),
            None => self.0.create_groups_accumulator(args),
        }
    }
    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.0.create_sliding_accumulator(args)
    }
    fn reverse_expr(&self) -> ReversedUDAF {
        self.0.reverse_expr()
    }
    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.0.default_value(data_type)
    }
    fn value_from_stats(&self, args: &StatisticsArgs) -> Option<ScalarValue> {
        self.0.value_from_stats(args)
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.0.documentation()
    }
    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.0.set_monotonicity(data_type)
    }
}

/// The distinct values of every group: each value is numbered once, and each (group,
/// value) pair is appended as `group << 32 | number` — no lookup in a table as large as
/// the pairs — then sorted and deduplicated when counted, or when the list has doubled.
struct DistinctTextCounts {
    kind: DataType,
    values: KeySet,
    pairs: Vec<u64>,
    /// Length of `pairs` after it was last deduplicated.
    compact_len: usize,
    /// Groups known so far.
    groups: usize,
}

/// Pairs appended between deduplications at least (so small inputs are sorted once).
const MIN_GROWTH: usize = 1 << 20;

impl DistinctTextCounts {
    fn new(kind: DataType) -> Self {
        Self {
            kind,
            values: KeySet::default(),
            pairs: Vec::new(),
            compact_len: 0,
            groups: 0,
        }
    }

    /// Adds the values of `array`, each to the group `group(row)` when it is included.
    fn add(
        &mut self,
        array: &dyn Array,
        groups: usize,
        mut group: impl FnMut(usize) -> Option<usize>,
    ) -> Result<()> {
        self.groups = self.groups.max(groups);
        let Self { values, pairs, .. } = self;
        let mut too_many = false;
        each_value(array, |row, value| {
            if let Some(g) = group(row) {
                let (n, _) = values.number(value.as_bytes());
                too_many |= g > u32::MAX as usize || n > u32::MAX as usize;
                pairs.push(((g as u64) << 32) | n as u64);
            }
        })?;
        if too_many {
            return exec_err!("count(DISTINCT) of more than 2^32 groups or values");
        }
        if self.pairs.len() > 2 * self.compact_len + MIN_GROWTH {
            self.compact();
        }
        Ok(())
    }

    fn compact(&mut self) {
        self.pairs.sort_unstable();
        self.pairs.dedup();
        self.compact_len = self.pairs.len();
    }

    /// The distinct pairs of the emitted groups, sorted, and how many groups that is; the
    /// groups after them become the first.
    fn take(&mut self, emit_to: EmitTo) -> (Vec<u64>, usize) {
        self.compact();
        let emitted = match emit_to {
            EmitTo::All => self.groups,
            EmitTo::First(n) => n.min(self.groups),
        };
        let split = self.pairs.partition_point(|&p| p >> 32 < emitted as u64);
        let shift = (emitted as u64) << 32;
        let rest: Vec<u64> = self.pairs[split..].iter().map(|p| p - shift).collect();
        self.pairs.truncate(split);
        let taken = std::mem::replace(&mut self.pairs, rest);
        self.compact_len = self.pairs.len();
        self.groups -= emitted;
        (taken, emitted)
    }

    /// Forgets the values once no group is left to hold them.
    fn forget_values_if_done(&mut self) {
        if self.groups == 0 {
            self.values = KeySet::default();
        }
    }
}

/// Distinct values per group, from sorted distinct pairs.
fn lengths(pairs: &[u64], groups: usize) -> Vec<usize> {
    let mut counts = vec![0; groups];
    for p in pairs {
        counts[(p >> 32) as usize] += 1;
    }
    counts
}

/// Calls `f(row, value)` for each non-null value of a text array.
fn each_value<'a>(array: &'a dyn Array, mut f: impl FnMut(usize, &'a str)) -> Result<()> {
    match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .enumerate()
            .for_each(|(i, v)| v.into_iter().for_each(|v| f(i, v))),
        DataType::Utf8View => array
            .as_string_view()
            .iter()
            .enumerate()
            .for_each(|(i, v)| v.into_iter().for_each(|v| f(i, v))),
        other => return exec_err!("count(DISTINCT) of text got {other}"),
    }
    Ok(())
}

impl GroupsAccumulator for DistinctTextCounts {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let included = |row: usize| opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
        self.add(values[0].as_ref(), total_num_groups, |row| {
            included(row).then(|| group_indices[row])
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (pairs, groups) = self.take(emit_to);
        let counts = lengths(&pairs, groups).into_iter().map(|c| c as i64);
        self.forget_values_if_done();
        Ok(Arc::new(Int64Array::from_iter_values(counts)))
    }

    /// Each emitted group's distinct values as a list, as DataFusion's `count` states them.
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (pairs, groups) = self.take(emit_to);
        let values: Vec<&[u8]> = pairs
            .iter()
            .map(|p| self.values.get((p & u64::from(u32::MAX)) as usize))
            .collect();
        let list = ListArray::try_new(
            Arc::new(Field::new_list_field(self.kind.clone(), true)),
            OffsetBuffer::from_lengths(lengths(&pairs, groups)),
            text_array(&self.kind, &values)?,
            None,
        )?;
        self.forget_values_if_done();
        Ok(vec![Arc::new(list)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let lists = values[0].as_list::<i32>();
        for (row, &group) in group_indices.iter().enumerate() {
            if lists.is_valid(row) {
                self.add(lists.value(row).as_ref(), total_num_groups, |_| Some(group))?;
            }
        }
        Ok(())
    }

    /// Each row as a state of its own: a list of its value, empty when it is null or
    /// filtered out (used when DataFusion skips partial aggregation).
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = values[0].len();
        let included = |row: usize| opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
        let mut lengths = vec![0usize; rows];
        let mut kept: Vec<&[u8]> = Vec::with_capacity(rows);
        each_value(values[0].as_ref(), |row, v| {
            if included(row) {
                lengths[row] = 1;
                kept.push(v.as_bytes());
            }
        })?;
        let list = ListArray::try_new(
            Arc::new(Field::new_list_field(self.kind.clone(), true)),
            OffsetBuffer::from_lengths(lengths),
            text_array(&self.kind, &kept)?,
            None,
        )?;
        Ok(vec![Arc::new(list)])
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.values.allocated()
            + self.pairs.capacity() * std::mem::size_of::<u64>()
    }
}

/// A value taken from a text array, as text again.
fn utf8(v: &[u8]) -> Result<&str> {
    std::str::from_utf8(v).map_err(|e| {
        deltalake::datafusion::error::DataFusionError::Internal(format!(
            "count(DISTINCT) kept a value that is not UTF-8: {e}"
        ))
    })
}

/// `values` (UTF-8 taken from text arrays) as an array of `kind`.
fn text_array(kind: &DataType, values: &[&[u8]]) -> Result<ArrayRef> {
    Ok(if kind == &DataType::Utf8View {
        let mut b = StringViewBuilder::with_capacity(values.len());
        for v in values {
            b.append_value(utf8(v)?);
        }
        Arc::new(b.finish())
    } else {
        let bytes = values.iter().map(|v| v.len()).sum();
        let mut b = StringBuilder::with_capacity(values.len(), bytes);
        for v in values {
            b.append_value(utf8(v)?);
        }
        Arc::new(b.finish())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Int32Array, RecordBatch, StringArray, StringViewArray};
    use deltalake::arrow::compute::concat_batches;
    use deltalake::arrow::datatypes::Schema;
    use deltalake::datafusion::datasource::MemTable;

    fn users() -> RecordBatch {
        let groups: Vec<i32> = (0..5_000).map(|i| i % 7).collect();
        let users: Vec<Option<String>> = (0..5_000)
            .map(|i| (i % 11 != 0).then(|| format!("u{}", (i * 31) % 97)))
            .collect();
        let schema = Schema::new(vec![
            Field::new("g", DataType::Int32, false),
            Field::new("u", DataType::Utf8, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int32Array::from(groups)),
                Arc::new(StringArray::from(users)),
            ],
        )
        .unwrap()
    }

    async fn query(ctx: SessionContext, sql: &str) -> RecordBatch {
        let batch = users();
        let batches: Vec<Vec<RecordBatch>> = (0..4)
            .map(|i| vec![batch.slice(i * 1_250, 1_250)])
            .collect();
        let table = MemTable::try_new(batch.schema(), batches).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        let out = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        concat_batches(&out[0].schema(), &out).unwrap()
    }

    #[tokio::test]
    async fn counts_what_datafusion_counts() {
        let sql = "SELECT g, count(DISTINCT u) AS users, count(u) AS present, count(*) AS n,
                          count(DISTINCT u) FILTER (WHERE g > 2) AS filtered,
                          count(DISTINCT arrow_cast(u, 'Utf8View')) AS viewed
                   FROM t GROUP BY g ORDER BY g";
        let ours = SessionContext::new();
        register(&ours);
        let theirs = query(SessionContext::new(), sql).await;
        assert_eq!(theirs.num_rows(), 7);
        assert_eq!(query(ours, sql).await, theirs);
    }

    #[test]
    fn state_of_the_first_groups_merges_into_the_same_counts() {
        let values: ArrayRef = Arc::new(StringViewArray::from(vec![
            Some("a"),
            Some("b"),
            Some("a"),
            None,
            Some("c"),
            Some("a"),
        ]));
        let groups = [0, 0, 1, 1, 2, 0];
        let mut partial = DistinctTextCounts::new(DataType::Utf8View);
        partial
            .update_batch(std::slice::from_ref(&values), &groups, None, 3)
            .unwrap();
        partial
            .update_batch(std::slice::from_ref(&values), &groups, None, 3)
            .unwrap();
        let first = partial.state(EmitTo::First(1)).unwrap();
        let rest = partial.state(EmitTo::All).unwrap();
        let mut total = DistinctTextCounts::new(DataType::Utf8View);
        total.merge_batch(&first, &[0], 3).unwrap();
        total.merge_batch(&rest, &[1, 2], 3).unwrap();
        total.merge_batch(&rest, &[1, 2], 3).unwrap();
        let counts = total.evaluate(EmitTo::First(2)).unwrap();
        assert_eq!(
            counts
                .as_primitive::<deltalake::arrow::datatypes::Int64Type>()
                .values(),
            &[2, 1]
        );
        let counts = total.evaluate(EmitTo::All).unwrap();
        assert_eq!(
            counts
                .as_primitive::<deltalake::arrow::datatypes::Int64Type>()
                .values(),
            &[1]
        );

        // Rows turned into states one by one merge into the same counts.
        let filter = BooleanArray::from(vec![true, true, true, true, false, true]);
        let rows = partial
            .convert_to_state(std::slice::from_ref(&values), Some(&filter))
            .unwrap();
        assert_eq!(rows[0].len(), 6);
        let mut merged = DistinctTextCounts::new(DataType::Utf8View);
        merged.merge_batch(&rows, &groups, 3).unwrap();
        let counts = merged.evaluate(EmitTo::All).unwrap();
        assert_eq!(
            counts
                .as_primitive::<deltalake::arrow::datatypes::Int64Type>()
                .values(),
            &[2, 1, 0]
        );
    }
}
