//! Finding payments for a caller, for every adapter (tarpc and HTTP): one payment by id or
//! confirmation code, a page of a search, or a payment's timeline, only ever of the caller's own
//! applications.

use crate::auth::Caller;
use crate::codes::CodeKey;
use crate::report;
use crate::store::Store;
use cip_common::confirmation::normalize;
use cip_common::error::ApiError;
use cip_common::event::Event;
use cip_common::form::ApplicationSpec;
use cip_common::payment::{
    Payment, PaymentLookup, SearchPage, SearchQuery, SearchSort, normalize_payment_id,
};
use cip_common::report::ReportFilter;
use cip_common::session::Role;

/// A list counts its payments this far and no further: past it, it asks for a narrower search.
pub const LIST_CAP: u64 = 10_000;

/// A page of a list: its payments, whether more follow, and how many match (up to
/// [`LIST_CAP`] + 1, which means "more than the cap").
pub struct Listed {
    pub payments: Vec<Payment>,
    pub more: bool,
    pub matching: u64,
}

/// Roles that may see payments.
pub const READERS: [Role; 4] = [Role::Agent, Role::Supervisor, Role::Api, Role::Viewer];

/// Reads payments for callers.
#[derive(Clone)]
pub struct Lookup {
    store: Store,
    /// Reads a confirmation code back to the number the store finds it by.
    codes: CodeKey,
}

impl Lookup {
    pub fn new(store: Store, codes: CodeKey) -> Lookup {
        Lookup { store, codes }
    }

    /// One payment `caller` may see. A payment of another application is answered as not found:
    /// no hint that it exists.
    pub async fn find(&self, caller: &Caller, lookup: PaymentLookup) -> Result<Payment, ApiError> {
        let store = &self.store;
        caller.require(&READERS, "look up payments")?;
        let (what, id) = match &lookup {
            PaymentLookup::Id(id) => ("payment", id.clone()),
            PaymentLookup::ConfirmationCode(code) => ("confirmation code", code.clone()),
        };
        let not_found = || ApiError::NotFound {
            what: what.to_owned(),
            id: id.clone(),
        };
        let found = match lookup {
            PaymentLookup::Id(id) => {
                let id = normalize_payment_id(&id).unwrap_or(id);
                store.payment(&id).await
            }
            PaymentLookup::ConfirmationCode(code) => {
                let code = normalize(&code).ok_or_else(not_found)?;
                let number = self.codes.number(&code).ok_or_else(not_found)?;
                store.payment_confirmed_by(number, &code).await
            }
        }?;
        found
            .filter(|p| caller.visible_applications().contains(&p.application))
            .ok_or_else(not_found)
    }

    /// A page of the payments `caller` may see that match `query`, at most `max_page_size` long.
    pub async fn search(
        &self,
        caller: &Caller,
        mut query: SearchQuery,
        max_page_size: u32,
    ) -> Result<SearchPage, ApiError> {
        caller.require(&READERS, "search payments")?;
        let page_size = query.page_size.clamp(1, max_page_size);
        if let Some(code) = &query.confirmation_code {
            query.confirmation_code = Some(normalize(code).unwrap_or_else(|| code.clone()));
        }
        if let Some(id) = &query.payment_id {
            query.payment_id = Some(normalize_payment_id(id).unwrap_or_else(|| id.clone()));
        }
        let apps = caller.visible_applications();
        let (payments, more) = self.store.search(&query, &apps, page_size).await?;
        Ok(SearchPage { payments, more })
    }

    /// Page `page` (from 0) of the payments of `spec`'s application that `filter` takes, in
    /// `sort`'s order, `page_size` to a page: what an export of `filter` holds, a page at a time.
    pub async fn list(
        &self,
        caller: &Caller,
        spec: &ApplicationSpec,
        filter: &ReportFilter,
        sort: SearchSort,
        page: u32,
        page_size: u32,
    ) -> Result<Listed, ApiError> {
        caller.require(&READERS, "search payments")?;
        if filter.application != spec.id
            || !caller.visible_applications().contains(&filter.application)
        {
            return Err(ApiError::Forbidden {
                action: format!("see the payments of {}", filter.application),
            });
        }
        let selection = report::selection(spec, filter);
        let skip = u64::from(page) * u64::from(page_size);
        let (payments, more) = self.store.listed(&selection, sort, skip, page_size).await?;
        let matching = self.store.counted(&selection, LIST_CAP + 1).await?;
        Ok(Listed {
            payments,
            more,
            matching,
        })
    }

    /// Every event of a payment `caller` may see, oldest first; none for another application's.
    pub async fn timeline(
        &self,
        caller: &Caller,
        payment_id: String,
    ) -> Result<Vec<Event>, ApiError> {
        caller.require(&READERS, "look up payments")?;
        let visibility = caller.visibility();
        Ok(self.store.timeline(&payment_id, &visibility).await?)
    }
}
