//! Q&A: shoppers ask and upvote questions; the host marks them answered.

use super::engine::{Engine, storage};
use super::{EngagementError, EngagementEvent, Question};
use crate::store::{Store, StoreError};
use sqlx::Row;
use std::collections::{BTreeMap, HashSet};
use vitrine_shared::QuestionId;
use vitrine_shared::{AccountId, ChatText, DisplayName};

pub use vitrine_shared::limits::engagement::MAX_OPEN_QUESTIONS_PER_SHOPPER as MAX_OPEN_PER_SHOPPER;

pub(super) struct QuestionState {
    pub question: Question,
    pub voters: HashSet<AccountId>,
}

pub(super) async fn load(store: &Store) -> Result<BTreeMap<QuestionId, QuestionState>, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
    let mut questions = BTreeMap::new();
    for row in
        sqlx::query("SELECT id, account_id, name, text, asked_at, answered_at FROM questions")
            .fetch_all(store.pool())
            .await?
    {
        let id = QuestionId(row.try_get(0)?);
        let question = Question {
            id,
            account: AccountId(row.try_get::<i64, _>(1)? as u64),
            name: DisplayName::new(row.try_get::<String, _>(2)?).map_err(|e| corrupt(&e))?,
            text: ChatText::new(row.try_get::<String, _>(3)?).map_err(|e| corrupt(&e))?,
            votes: 0,
            answered: row.try_get::<Option<i64>, _>(5)?.is_some(),
            asked_at_ms: row.try_get(4)?,
        };
        questions.insert(
            id,
            QuestionState {
                question,
                voters: HashSet::new(),
            },
        );
    }
    for row in sqlx::query("SELECT question_id, account_id FROM question_votes")
        .fetch_all(store.pool())
        .await?
    {
        if let Some(state) = questions.get_mut(&QuestionId(row.try_get(0)?)) {
            state
                .voters
                .insert(AccountId(row.try_get::<i64, _>(1)? as u64));
            state.question.votes += 1;
        }
    }
    Ok(questions)
}

impl Engine {
    pub(super) async fn ask(
        &mut self,
        account: AccountId,
        name: DisplayName,
        text: ChatText,
    ) -> Result<Question, EngagementError> {
        let open = self
            .questions
            .values()
            .filter(|q| q.question.account == account && !q.question.answered)
            .count();
        if open >= MAX_OPEN_PER_SHOPPER {
            return Err(EngagementError::TooManyQuestions(open));
        }
        let question = Question {
            id: crate::ids::new_id(),
            account,
            name,
            text,
            votes: 0,
            answered: false,
            asked_at_ms: self.clock.now_ms(),
        };
        sqlx::query(
            "INSERT INTO questions (id, show_id, account_id, name, text, asked_at, answered_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(question.id.get())
        .bind(self.show.as_ref().map(|s| s.id.get()))
        .bind(account.0 as i64)
        .bind(question.name.as_str())
        .bind(question.text.as_str())
        .bind(question.asked_at_ms)
        .execute(self.store.pool())
        .await
        .map_err(|e| storage(e.into()))?;
        self.questions.insert(
            question.id,
            QuestionState {
                question: question.clone(),
                voters: HashSet::new(),
            },
        );
        let _ = self
            .events
            .send(EngagementEvent::QuestionAsked(question.clone()));
        Ok(question)
    }

    pub(super) async fn upvote(
        &mut self,
        account: AccountId,
        question_id: QuestionId,
    ) -> Result<Question, EngagementError> {
        let state = self
            .questions
            .get(&question_id)
            .ok_or(EngagementError::UnknownQuestion)?;
        if state.question.account == account {
            return Err(EngagementError::OwnQuestion);
        }
        if state.voters.contains(&account) {
            return Err(EngagementError::AlreadyUpvoted);
        }
        sqlx::query(
            "INSERT INTO question_votes (question_id, account_id) VALUES ($1, $2) \
             ON CONFLICT (question_id, account_id) DO NOTHING",
        )
        .bind(question_id.get())
        .bind(account.0 as i64)
        .execute(self.store.pool())
        .await
        .map_err(|e| storage(e.into()))?;
        let state = self.questions.get_mut(&question_id).expect("checked above");
        state.voters.insert(account);
        state.question.votes += 1;
        let _ = self.events.send(EngagementEvent::QuestionVotes {
            question_id,
            votes: state.question.votes,
        });
        Ok(state.question.clone())
    }

    pub(super) async fn answered(
        &mut self,
        question_id: QuestionId,
    ) -> Result<Question, EngagementError> {
        let state = self
            .questions
            .get(&question_id)
            .ok_or(EngagementError::UnknownQuestion)?;
        if state.question.answered {
            return Ok(state.question.clone());
        }
        sqlx::query("UPDATE questions SET answered_at = $1 WHERE id = $2")
            .bind(self.clock.now_ms())
            .bind(question_id.get())
            .execute(self.store.pool())
            .await
            .map_err(|e| storage(e.into()))?;
        let state = self.questions.get_mut(&question_id).expect("checked above");
        state.question.answered = true;
        let _ = self
            .events
            .send(EngagementEvent::QuestionAnswered { question_id });
        Ok(state.question.clone())
    }

    /// Open questions, most upvoted first (then oldest first), then the
    /// 50 most recently asked answered ones.
    pub(super) fn question_list(&self) -> Vec<Question> {
        let mut open: Vec<Question> = self
            .questions
            .values()
            .filter(|q| !q.question.answered)
            .map(|q| q.question.clone())
            .collect();
        open.sort_by(|a, b| {
            b.votes
                .cmp(&a.votes)
                .then(a.asked_at_ms.cmp(&b.asked_at_ms))
                .then(a.id.cmp(&b.id))
        });
        let mut answered: Vec<Question> = self
            .questions
            .values()
            .filter(|q| q.question.answered)
            .map(|q| q.question.clone())
            .collect();
        answered.sort_by_key(|q| std::cmp::Reverse(q.asked_at_ms));
        answered.truncate(50);
        open.extend(answered);
        open
    }
}
